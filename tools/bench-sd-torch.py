#!/usr/bin/python3
"""PyTorch anchor for tools/bench-sd.ts (by hand, not a test): seconds per guided UNet step of the
same module the SD-1.5-size export holds (diffusers 0.27.2 UNet2DConditionModel, SD-1.5's default
config, random weights), batch 2 (classifier-free guidance), float32, CPU.

    DIFFUSERS_SRC=... DIFFUSERS_STUBS=... /usr/bin/python3 tools/bench-sd-torch.py [--latent 32] [--steps 3] [--threads 2]

Needs the diffusers source and the export stubs (DIFFUSERS_SRC, DIFFUSERS_STUBS; not in this repository).
"""
import argparse, os, sys, time
import diffusers_path  # noqa: F401,E402  (DIFFUSERS_SRC, DIFFUSERS_STUBS first on sys.path)
import torch
from diffusers import UNet2DConditionModel

p = argparse.ArgumentParser()
p.add_argument("--latent", type=int, default=32)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
# SD-1.5's UNet config is UNet2DConditionModel's default plus these (export.py's SD15)
m = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).eval()
x = torch.randn(2, 4, a.latent, a.latent)
ctx = torch.randn(2, 77, 768)
times = []
with torch.no_grad():
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        m(x, torch.tensor([500.0, 500.0]), ctx)
        if i > 0:  # the first call warms up
            times.append(time.perf_counter() - t0)
times.sort()
print(f"torch {torch.__version__}, {a.threads} threads, latents {a.latent}x{a.latent}, batch 2: "
      f"median {times[len(times) // 2]:.2f} s per guided UNet step (best {times[0]:.2f}), load average {os.getloadavg()[0]:.1f}")
