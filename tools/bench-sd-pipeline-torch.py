#!/usr/bin/python3
"""PyTorch anchor for `tools/bench-sd.ts --pipeline` (by hand, not a test): the same modules as the
SD-1.5-size folder tools/export-sd15-pipeline.py writes, eager float32 on the CPU, torch.no_grad,
random weights (seed 0), timed part by part:

  DIFFUSERS_SRC=... DIFFUSERS_STUBS=... /usr/bin/python3 tools/bench-sd-pipeline-torch.py \
      [--latents 32,64] [--threads 2] [--repeats 3] [--unet-steps 1] [--steps 25] [--warmup 1]

- the text encoder (the CLIP ViT-L/14 text transformer of export-sd15-pipeline.py) on one prompt's
  77 ids, median of `--repeats` after a warm-up;
- the VAE encoder (AutoencoderKL.encode(...).latent_dist.sample(), as exported) on one picture of
  8 x latents px, and the VAE decoder on one latent, each the median of `--repeats` after a warm-up;
- the UNet (diffusers' UNet2DConditionModel at SD 1.5's config) on a guided batch of 2, `--unet-steps`
  calls after one warm-up call (0 skips the UNet: tools/bench-sd-unet.py measures it alone too);
- one image at `--steps` guided steps composed as 2 x text encoder + (steps + 1) x UNet + VAE decoder:
  SD 1.5's PNDMScheduler (skip_prk_steps) makes steps + 1 UNet calls, its first timestep twice (the
  scheduler's arithmetic is negligible next to a UNet call).
- with `--lora-steps N`: a LoRA training step at batch 1 as `train --lora 4` runs one: rank-4 adapters
  y = W x + (alpha / r) B (A x), alpha = r, B zero-initialised, on every attention projection (`to_q`,
  `to_k`, `to_v`, `to_out.0`: 128 targets), the base weights frozen; eps-prediction MSE on a noised
  latent at a random timestep of SD's scaled-linear schedule; backward; gradient clipping to norm 1;
  AdamW on the adapters. Median of N steps after one warm-up step.
Prints the load average before and after each row, the peak RSS, and the BLAS library the process
loaded: Debian's torch links the generic libblas.so.3, which is the reference (netlib) BLAS unless
another is installed, 17x slower at a 1024^2 MatMul than OpenBLAS on this machine; the Linear and
MatMul layers (the text encoder, attention) run on it. To run on OpenBLAS without installing it
system-wide, unpack Debian's libopenblas0-pthread .deb with `dpkg-deb -x` into a folder and put its
usr/lib/x86_64-linux-gnu/openblas-pthread on LD_LIBRARY_PATH (with OPENBLAS_NUM_THREADS=2).
"""
import argparse, importlib.util, os, resource, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("export_sd15_pipeline", HERE / "export-sd15-pipeline.py")
exp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exp)  # checks DIFFUSERS_SRC / DIFFUSERS_STUBS and puts them on sys.path
import torch  # noqa: E402
from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: E402

SD15_UNET = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)  # as export.py's SD15


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def load():
    return f"{os.getloadavg()[0]:.1f}"


class LoraLinear(torch.nn.Module):
    """y = W x + s B (A x) (Hu et al. 2021, eq. 3), as src/nn/lora.ts inserts it."""

    def __init__(self, base, rank):
        super().__init__()
        self.base = base
        self.A = torch.nn.Parameter(torch.randn(rank, base.in_features) / rank)
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x, *args):  # diffusers' LoRACompatibleLinear takes a scale argument
        return self.base(x) + (x @ self.A.t()) @ self.B.t()


def add_lora(unet, rank):
    targets = []
    for name, m in list(unet.named_modules()):
        for attr in ("to_q", "to_k", "to_v"):
            if isinstance(getattr(m, attr, None), torch.nn.Linear):
                setattr(m, attr, LoraLinear(getattr(m, attr), rank))
                targets.append(f"{name}.{attr}")
        out = getattr(m, "to_out", None)
        if isinstance(out, torch.nn.ModuleList) and isinstance(out[0], torch.nn.Linear):
            out[0] = LoraLinear(out[0], rank)
            targets.append(f"{name}.to_out.0")
    return targets


def lora_step_time(unet, params, size, ctx, steps, g):
    opt = torch.optim.AdamW(params, lr=1e-4)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2
    abar = torch.cumprod(1 - betas, 0)

    def step():
        x0 = torch.randn(1, 4, size, size, generator=g)
        noise = torch.randn(1, 4, size, size, generator=g)
        t = torch.randint(0, 1000, (1,), generator=g)
        noisy = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(noisy, t.float(), ctx).sample, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return median_time(step, steps)


def blas():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return ", ".join(sorted(libs)) or "none mapped"


WARMUP = 1


def median_time(f, repeats):
    for _ in range(WARMUP):
        f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latents", default="32,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--unet-steps", type=int, default=1)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--lora-steps", type=int, default=0, help="LoRA rank-4 training steps at batch 1 to time (0: none)")
    ap.add_argument("--only-lora", action="store_true", help="skip the text encoder, VAE and inference UNet timings")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls before the timed ones (0: for calls of minutes)")
    a = ap.parse_args()
    global WARMUP
    WARMUP = a.warmup
    torch.set_num_threads(a.threads)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}, torch {torch.__version__}, {a.threads} threads, load average {load()}", flush=True)
    print(f"BLAS: {blas()}", flush=True)
    with torch.no_grad():
        enc = float('nan')
        if not a.only_lora:
            torch.manual_seed(0)
            te = exp.ClipText(exp.CLIP_L).eval()
            ids = torch.full((1, 77), exp.EOS, dtype=torch.int32)
            ids[0, :9] = torch.tensor([exp.BOS, 320, 530, 700, 401, 612, 333, 950, exp.EOS])
            enc, enc_best = median_time(lambda: te(ids), a.repeats)
            print(f"text encoder: {enc:.3f} s per prompt (median of {a.repeats}, best {enc_best:.3f}); load {load()}; peak RSS {peak_mib()} MiB", flush=True)
            del te
        torch.manual_seed(0)
        vae = AutoencoderKL(**exp.SD15_VAE).eval()
        unet = UNet2DConditionModel(**SD15_UNET).eval() if a.unet_steps > 0 else None
        g = torch.Generator().manual_seed(1)
        ctx = torch.randn(2, 77, 768, generator=g)
        print("| latents (px) | VAE encoder s / picture | VAE decoder s | UNet calls timed | s per guided step | s / image at %d steps (composed) | load before / after | peak RSS MiB |" % a.steps)
        print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
        for size in [int(s) for s in a.latents.split(",")] if not a.only_lora else []:
            before = load()
            px = 8 * size
            img = torch.rand(1, 3, px, px, generator=g) * 2 - 1
            lat = torch.randn(1, 4, size, size, generator=g)
            venc, _ = median_time(lambda: vae.encode(img).latent_dist.sample(), a.repeats)
            vdec, _ = median_time(lambda: vae.decode(lat).sample, a.repeats)
            step = float("nan")
            if unet is not None:
                x = torch.randn(2, 4, size, size, generator=g)
                t = torch.full((2,), 500.0)
                step, _ = median_time(lambda: unet(x, t, ctx), a.unet_steps)
            calls = a.steps + 1
            image = 2 * enc + calls * step + vdec
            print(f"| {size}x{size} ({px}) | {venc:.2f} | {vdec:.2f} | {a.unet_steps} (+{a.warmup} warm-up) | {step:.2f} | {image:.1f} = 2 x {enc:.2f} + {calls} x {step:.2f} + {vdec:.2f} | {before} / {load()} | {peak_mib()} |", flush=True)
        if a.lora_steps > 0:
            del vae
            unet = unet or UNet2DConditionModel(**SD15_UNET)
            unet.train().requires_grad_(False)
            targets = add_lora(unet, 4)
            params = [p for n, p in unet.named_parameters() if n.endswith((".A", ".B"))]
            for p in params:
                p.requires_grad_(True)
            print(f"LoRA rank 4 on {len(targets)} attention projections, {sum(p.numel() for p in params):,} trained values", flush=True)
            print("| latents | LoRA step s (median of %d after %d warm-up) | load before / after | peak RSS MiB |" % (a.lora_steps, a.warmup))
            print("| --- | --- | --- | --- |", flush=True)
            with torch.enable_grad():
                for size in [int(s) for s in a.latents.split(",")]:
                    before = load()
                    med, best = lora_step_time(unet, params, size, ctx[:1], a.lora_steps, g)
                    print(f"| {size}x{size} | {med:.2f} (best {best:.2f}) | {before} / {load()} | {peak_mib()} |", flush=True)


if __name__ == "__main__":
    main()
