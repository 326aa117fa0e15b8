"""Fixture for test/nn/lora-keys-diffusers.test.ts: what diffusers 0.27.2 itself makes of kohya LoRA keys.

For module keys of a diffusers UNet (the tiny-sd UNet's attention projections, feed-forward,
proj_in/out and time_emb_proj), writes the kohya name onnx-diffusion gives each
(`lora_unet_` + the key with dots as underscores), runs diffusers' own
`_convert_kohya_lora_to_diffusers` and `convert_unet_state_dict_to_peft` on them, and records the
peft key diffusers ends with. Run by hand with Debian's python3:
    /usr/bin/python3 tools/lora-keys-diffusers.py > test/fixtures/lora-keys-diffusers.json
"""
import json
import os
import sys
import diffusers_path  # noqa: F401,E402  (DIFFUSERS_SRC, DIFFUSERS_STUBS first on sys.path)
import torch  # noqa: E402
from diffusers.loaders.lora_conversion_utils import _convert_kohya_lora_to_diffusers  # noqa: E402
from diffusers.utils.state_dict_utils import convert_unet_state_dict_to_peft  # noqa: E402

blocks = ["down_blocks.0.attentions.0", "down_blocks.0.attentions.1", "mid_block.attentions.0", "up_blocks.1.attentions.2"]
modules = []
for b in blocks:
    t = f"{b}.transformer_blocks.0"
    modules += [f"{t}.attn{i}.{p}" for i in (1, 2) for p in ("to_q", "to_k", "to_v", "to_out.0")]
    modules += [f"{t}.ff.net.0.proj", f"{t}.ff.net.2", f"{b}.proj_in", f"{b}.proj_out"]
modules += ["down_blocks.1.resnets.0.time_emb_proj", "up_blocks.0.resnets.2.conv_shortcut"]

pairs = []
for m in modules:
    kohya = "lora_unet_" + m.replace(".", "_")
    sd = {f"{kohya}.lora_down.weight": torch.zeros(2, 4), f"{kohya}.lora_up.weight": torch.zeros(4, 2), f"{kohya}.alpha": torch.tensor(2.0)}
    converted, alphas = _convert_kohya_lora_to_diffusers(sd)
    unet = {k[len("unet."):]: v for k, v in converted.items() if k.startswith("unet.")}
    peft = convert_unet_state_dict_to_peft(unet)
    pairs.append({"module": m, "kohya": f"{kohya}.lora_down.weight", "diffusers": sorted(converted), "peft": sorted(peft), "alphas": sorted(alphas)})
json.dump({"source": "diffusers 0.27.2 _convert_kohya_lora_to_diffusers + convert_unet_state_dict_to_peft", "pairs": pairs}, sys.stdout, indent=1)
print()
