#!/usr/bin/env python3
"""PyTorch anchor for SD-1.5-size UNet sampling time (run by hand; the product needs no Python).

The same UNet as the SD-1.5-size export (sd15-unet) (diffusers 0.27.2 UNet2DConditionModel with SD-1.5's
config: sample_size 64, cross_attention_dim 768, attention_head_dim 8; random weights, seed 0),
eager float32 on the CPU, torch.no_grad, batch 2 (a guided step), timestep float32 [N], context
[2, 77, 768]. Prints seconds per UNet call at each latent size and the process's peak RSS.

  /usr/bin/python3 tools/bench-sd-unet.py [--sizes 32,64] [--steps 3] [--threads N]

Needs Debian's python3 (torch 1.13) and the diffusers v0.27.2 source with the export stubs:
DIFFUSERS_SRC and DIFFUSERS_STUBS (both required), as the team's export.py takes them.
"""
import argparse, os, resource, sys, time

import diffusers_path  # noqa: F401,E402  (DIFFUSERS_SRC, DIFFUSERS_STUBS first on sys.path)

import torch  # noqa: E402
from diffusers import UNet2DConditionModel  # noqa: E402

# runwayml/stable-diffusion-v1-5 unet/config.json differs from the defaults only in these (export.py's SD15)
SD15 = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.time()
    m = UNet2DConditionModel(**SD15).eval()
    n = sum(p.numel() for p in m.parameters())
    print(f"torch {torch.__version__}, {a.threads} threads; UNet2DConditionModel {n:,} params built in {time.time() - t0:.1f} s; "
          f"peak RSS {peak_rss_gib():.2f} GiB", flush=True)
    g = torch.Generator().manual_seed(1)
    ctx = torch.randn(a.batch, 77, 768, generator=g)
    print("| latents | batch | s / UNet call | peak RSS (GiB) |")
    print("| --- | --- | --- | --- |")
    with torch.no_grad():
        for size in [int(s) for s in a.sizes.split(",")]:
            x = torch.randn(a.batch, 4, size, size, generator=g)
            t = torch.full((a.batch,), 500.0)
            m(x, t, ctx)  # warm-up
            times = []
            for _ in range(a.steps):
                s = time.time()
                m(x, t, ctx)
                times.append(time.time() - s)
            times.sort()
            print(f"| {size}x{size} | {a.batch} | {times[len(times) // 2]:.2f} (median of {a.steps}) | {peak_rss_gib():.2f} |", flush=True)


if __name__ == "__main__":
    main()
