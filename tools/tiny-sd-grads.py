"""Torch autograd gradients of the tiny-sd UNet's training loss, for test/train/tiny-sd-grad.test.ts.

Run by hand with Debian's python3 (torch 1.13) and the diffusers v0.27.2 source:
    /usr/bin/python3 tools/tiny-sd-grads.py [DIFFUSERS_SRC] [STUBS]
(both required: the diffusers v0.27.2 src/ folder and the export stubs, not in this repository).

It rebuilds the UNet exactly as test/fixtures/tiny-sd/README.md says it was made (the real
UNet2DConditionModel class, torch.manual_seed(0) before building), checks that it reproduces
reference/train_unet_out.npy on the fixture's training case (noisy latents, t = 500, the prompt's
embeddings), then writes the gradient of loss = F.mse_loss(unet(x_t, t, emb), noise) with respect
to a few named weights, computed in float64 and in float32, to test/fixtures/tiny-sd-grads/.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if len(sys.argv) < 3:
    sys.exit("usage: tools/tiny-sd-grads.py DIFFUSERS_SRC DIFFUSERS_STUBS")
SRC, STUBS = sys.argv[1], sys.argv[2]
sys.path[:0] = [STUBS, SRC]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from diffusers import UNet2DConditionModel  # noqa: E402

FIX = ROOT / "test" / "fixtures" / "tiny-sd"
OUT = ROOT / "test" / "fixtures" / "tiny-sd-grads"
CONFIG = dict(  # test/fixtures/tiny-sd/README.md, "Models"
    block_out_channels=(32, 64), layers_per_block=2, sample_size=16, in_channels=4, out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)
# Weights with values of their own (not de-duplicated by the exporter: GroupNorm's ones and zeros are).
NAMES = [
    "conv_in.weight",
    "conv_out.weight",
    "conv_out.bias",
    "time_embedding.linear_1.bias",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
    "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.weight",
]


def ref(name):
    return np.load(FIX / "reference" / f"{name}.npy")


def grads(dtype):
    torch.manual_seed(0)
    m = UNet2DConditionModel(**CONFIG).eval().to(dtype)
    x0 = torch.from_numpy(ref("train_latents")).to(dtype)
    noise = torch.from_numpy(ref("train_noise")).to(dtype)
    t = torch.from_numpy(ref("train_timestep"))
    emb = torch.from_numpy(ref("text_embeddings_cond")).to(dtype)
    abar = torch.from_numpy(ref("alphas_cumprod")).to(torch.float64)[500]
    # DDPM forward process (Ho et al. 2020 eq. 4), as DDIMScheduler.add_noise.
    xt = (abar.sqrt() * x0.double() + (1 - abar).sqrt() * noise.double()).to(dtype)
    out = m(xt, t.to(dtype), emb).sample
    loss = F.mse_loss(out, noise)
    loss.backward()
    params = dict(m.named_parameters())
    return out.detach(), loss.item(), {n: params[n].grad.detach().numpy().copy() for n in NAMES}


def main():
    out64, loss64, g64 = grads(torch.float64)
    out32, loss32, g32 = grads(torch.float32)
    want = ref("train_unet_out")
    err = float(np.abs(out32.numpy() - want).max())
    print(f"UNet output vs train_unet_out.npy: max abs diff {err:.2e} (float32), {np.abs(out64.numpy() - want).max():.2e} (float64)")
    assert err < 1e-4, "the rebuilt UNet does not reproduce the fixture"
    OUT.mkdir(parents=True, exist_ok=True)
    summary = {"loss_float64": loss64, "loss_float32": loss32, "reference_loss": float(ref("train_loss")), "grads": {}}
    for n in NAMES:
        np.save(OUT / f"{n}.f64.npy", g64[n].astype(np.float64))
        np.save(OUT / f"{n}.f32.npy", g32[n].astype(np.float32))
        scale = float(np.abs(g64[n]).max())
        rel = float(np.abs(g32[n] - g64[n]).max()) / scale
        summary["grads"][n] = {"shape": list(g64[n].shape), "max_abs_float64": scale, "float32_vs_float64_max_normalised": rel}
        print(f"{n:70s} {str(list(g64[n].shape)):16s} torch f32 vs f64: {rel:.2e}")
    (OUT / "grads.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
