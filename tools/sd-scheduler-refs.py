#!/usr/bin/python3
"""Reference latents for the scheduler parity tests (test/diffusion/schedulers/parity.test.ts), by hand:

    /usr/bin/python3 tools/sd-scheduler-refs.py [OUTDIR]      # default test/fixtures/schedulers

Runs each diffusers v0.27.2 scheduler class, made with from_config(test/fixtures/tiny-sd/scheduler/
scheduler_config.json), on a closed-form "model" that the TypeScript test writes identically:
    eps(x, t) = 0.5 * tanh(x) + 0.01 * t / 1000      (float64, then float32)
from the fixture's latents_init.npy times init_noise_sigma, for 4 and 10 steps, and saves every
step's latents. Euler ancestral, DDPM and DPM-Solver++ SDE draw their noise through diffusers'
randn_tensor; that is replaced by a fixed array saved here (noise-<steps>.npy, draws handed out in
the order the scheduler asks for them, one per step at most), which the test feeds back.
LMSDiscreteScheduler imports scipy.integrate.quad, which Debian's python3 lacks: a stand-in
integrates its polynomial integrand exactly by Gauss-Legendre quadrature (degree < 4, 8 points).
Needs the diffusers source (DIFFUSERS_SRC) and the export stubs (DIFFUSERS_STUBS) of the team's
diffusers export tools; numpy and torch from Debian's python3.
"""
import json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import diffusers_path  # noqa: F401,E402  (DIFFUSERS_SRC, DIFFUSERS_STUBS first on sys.path)

import types
import numpy as np
import torch


def _quad(f, a, b, **kwargs):
    x, w = np.polynomial.legendre.leggauss(8)
    half, mid = (b - a) / 2, (a + b) / 2
    return float(sum(wi * float(f(mid + half * xi)) for xi, wi in zip(x, w)) * half), 0.0


import diffusers.schedulers.scheduling_ddpm as ddpm_mod
import diffusers.schedulers.scheduling_dpmsolver_multistep as dpm_mod
import diffusers.schedulers.scheduling_euler_ancestral_discrete as eulera_mod
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, HeunDiscreteScheduler, PNDMScheduler)

# after diffusers has looked for scipy (and found none): the stand-in for the one module LMS imports
try:
    import scipy.integrate  # noqa: F401
except ImportError:
    sys.modules["scipy"] = types.ModuleType("scipy")
    sys.modules["scipy.integrate"] = types.ModuleType("scipy.integrate")
    sys.modules["scipy.integrate"].quad = _quad
    sys.modules["scipy"].integrate = sys.modules["scipy.integrate"]
from diffusers.schedulers.scheduling_lms_discrete import LMSDiscreteScheduler

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "fixtures", "schedulers")
FIX = os.path.join(ROOT, "test", "fixtures", "tiny-sd")
config = json.load(open(os.path.join(FIX, "scheduler", "scheduler_config.json")))
latents_init = torch.from_numpy(np.load(os.path.join(FIX, "reference", "latents_init.npy")))

CASES = {
    "ddim": lambda: DDIMScheduler.from_config(config),
    "euler": lambda: EulerDiscreteScheduler.from_config(config),
    "euler-karras": lambda: EulerDiscreteScheduler.from_config(config, use_karras_sigmas=True),
    "euler-ancestral": lambda: EulerAncestralDiscreteScheduler.from_config(config),
    "dpm++2m": lambda: DPMSolverMultistepScheduler.from_config(config),
    "dpm++2m-karras": lambda: DPMSolverMultistepScheduler.from_config(config, use_karras_sigmas=True),
    "pndm": lambda: PNDMScheduler.from_config(config, skip_prk_steps=True),
    "ddpm": lambda: DDPMScheduler.from_config(config),
    "heun": lambda: HeunDiscreteScheduler.from_config(config),
    "dpm++2m-sde": lambda: DPMSolverMultistepScheduler.from_config(config, algorithm_type="sde-dpmsolver++"),
    "dpm++2m-sde-karras": lambda: DPMSolverMultistepScheduler.from_config(config, algorithm_type="sde-dpmsolver++",
                                                                          use_karras_sigmas=True),
    "lms": lambda: LMSDiscreteScheduler.from_config(config),
}


def model(x, t):
    return (0.5 * torch.tanh(x.double()) + 0.01 * float(t) / 1000).float()


class FixedNoise:
    """Stands in for randn_tensor: hands out the saved draws in order."""
    def __init__(self, draws):
        self.draws, self.i = draws, 0

    def __call__(self, shape, **kwargs):
        z = self.draws[self.i]
        self.i += 1
        assert tuple(z.shape) == tuple(shape), (z.shape, shape)
        return z.clone()


os.makedirs(OUT, exist_ok=True)
summary = {"model": "eps(x, t) = 0.5 * tanh(x) + 0.01 * t / 1000", "latents": "tiny-sd/reference/latents_init.npy", "cases": {}}
for steps in (4, 10):
    noise = torch.randn((steps + 1,) + tuple(latents_init.shape), generator=torch.Generator().manual_seed(steps))
    np.save(os.path.join(OUT, f"noise-{steps}.npy"), noise.numpy())
    for name, make in CASES.items():
        s = make()
        s.set_timesteps(steps)
        eulera_mod.randn_tensor = ddpm_mod.randn_tensor = dpm_mod.randn_tensor = FixedNoise(noise)
        x = latents_init * s.init_noise_sigma
        out = []
        for t in s.timesteps:
            eps = model(s.scale_model_input(x, t), t)
            x = s.step(eps, t, x).prev_sample
            out.append(x.numpy().copy())
        np.save(os.path.join(OUT, f"{name}-{steps}.npy"), np.stack(out).astype(np.float32))
        # add_noise at the second timestep: the img2img starting point
        s2 = make()
        s2.set_timesteps(steps)
        t1 = s2.timesteps[1:2]
        noisy = s2.add_noise(latents_init, noise[0], t1)
        np.save(os.path.join(OUT, f"{name}-{steps}-add-noise.npy"), noisy.numpy().astype(np.float32))
        summary["cases"][f"{name}-{steps}"] = {
            "class": type(s).__name__, "timesteps": [float(t) for t in s.timesteps],
            "init_noise_sigma": float(s.init_noise_sigma), "add_noise_t": float(t1[0]),
        }

# img2img as diffusers 0.27.2's StableDiffusionImg2ImgPipeline runs it (get_timesteps): 10 steps at
# strength 0.6 keep the last 6; the scheduler begins at index t_start * order (set_begin_index where
# the class has it), add_noise at the first kept timestep with the last saved draw, then the loop
# with the draws from the first on
summary["img2img"] = {}
steps, strength = 10, 0.6
noise = torch.from_numpy(np.load(os.path.join(OUT, f"noise-{steps}.npy")))
for name in ("ddpm", "heun", "lms", "dpm++2m", "dpm++2m-sde", "euler-ancestral"):
    s = CASES[name]()
    s.set_timesteps(steps)
    t_start = steps - min(int(steps * strength), steps)
    timesteps = s.timesteps[t_start * s.order:]
    if hasattr(s, "set_begin_index"):
        s.set_begin_index(t_start * s.order)
    eulera_mod.randn_tensor = ddpm_mod.randn_tensor = dpm_mod.randn_tensor = FixedNoise(noise)
    x = s.add_noise(latents_init, noise[steps], timesteps[:1])
    out = [x.numpy().copy()]
    for t in timesteps:
        x = s.step(model(s.scale_model_input(x, t), t), t, x).prev_sample
        out.append(x.numpy().copy())
    np.save(os.path.join(OUT, f"{name}-img2img.npy"), np.stack(out).astype(np.float32))
    summary["img2img"][name] = {"steps": steps, "strength": strength, "timesteps": [float(t) for t in timesteps]}
json.dump(summary, open(os.path.join(OUT, "refs.json"), "w"), indent=1)
print("wrote", OUT)
