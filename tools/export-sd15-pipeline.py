#!/usr/bin/python3
"""A complete SD-1.5-size diffusers ONNX folder with random weights (seed 0), for benchmarks (run by
hand; the product needs no Python):

  DIFFUSERS_SRC=... DIFFUSERS_STUBS=... /usr/bin/python3 tools/export-sd15-pipeline.py OUTDIR \
      --unet DIR_WITH_model.onnx_AND_weights.pb [--tokenizer-from test/fixtures/tiny-sd/tokenizer]

writes OUTDIR/
  text_encoder/model.onnx  a CLIP ViT-L/14 text transformer at SD 1.5's text_encoder/config.json
                           (vocab 49408, 77 positions, width 768, MLP 3072, 12 layers, 12 heads,
                           quick_gelu, causal mask, final layer norm; 123.1 M params), written here in
                           plain torch because transformers is not installed: the same modules, order
                           and FLOPs as transformers' CLIPTextModel (modeling_clip.py: CLIPTextEmbeddings,
                           CLIPEncoderLayer = LN -> attention -> residual, LN -> fc1 -> quick_gelu -> fc2
                           -> residual; CLIPAttention scales q by head_dim^-0.5 and adds the causal mask
                           of finfo.min above the diagonal; pooler_output = the final state at argmax(ids),
                           the rule of configs whose eos_token_id is 2, as SD 1.5's is).
                           Exported as diffusers' convert_stable_diffusion_checkpoint_to_onnx.py (v0.27.2)
                           exports the text encoder: input_ids int32 [batch, sequence] ->
                           last_hidden_state, pooler_output; opset 14, do_constant_folding.
  vae_encoder/model.onnx   diffusers' AutoencoderKL at SD 1.5's vae/config.json (83.7 M params), as the
  vae_decoder/model.onnx   conversion script exports it: encoder = encode(sample).latent_dist.sample()
                           (sample -> latent_sample), traced at 512x512; decoder = decode (latent_sample
                           -> sample), traced at 64x64 latents; dynamic batch/channels/height/width.
  vae_decoder/config.json  the AutoencoderKL config (scaling_factor 0.18215), as optimum writes one.
  unet/                    hard links to --unet's model.onnx and weights.pb (the SD-1.5-size UNet of the
                           team's diffusers export, export.py --only sd15); symlinks if on another device.
  tokenizer/               the tiny-sd fixture's CLIP BPE tokenizer with its ids remapped to SD 1.5's
                           layout: its 998 byte/merge tokens keep ids 0-997, ids 998-49405 are
                           placeholder entries no merge produces (so never emitted), <|startoftext|> is
                           49406 and <|endoftext|> (eos, pad, unk) 49407, as in openai/clip-vit-large-patch14.
                           Token ids are valid for the 49408-row embedding; the merges (486, not CLIP's
                           48,894) split real words into more pieces than CLIP would, which changes nothing
                           downstream of the padding to 77.
  scheduler/scheduler_config.json   SD 1.5's PNDMScheduler config (runwayml/stable-diffusion-v1-5).
  model_index.json         as OnnxStableDiffusionPipeline.save_pretrained writes it.

Memory: about 3 GB at the peak (the VAE decoder's trace at 512x512). Run it under the team's memory lock.
"""
import argparse, json, os, shutil, sys, time
from pathlib import Path
import diffusers_path  # noqa: F401,E402  (DIFFUSERS_SRC, DIFFUSERS_STUBS first on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import onnx  # noqa: E402
import diffusers  # noqa: E402
from diffusers import AutoencoderKL  # noqa: E402

# openai/clip-vit-large-patch14's text_config, which runwayml/stable-diffusion-v1-5 text_encoder/config.json repeats
CLIP_L = dict(vocab_size=49408, max_position_embeddings=77, hidden_size=768, intermediate_size=3072,
              num_hidden_layers=12, num_attention_heads=12, layer_norm_eps=1e-5)
# runwayml/stable-diffusion-v1-5 vae/config.json (AutoencoderKL)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
                act_fn="silu", sample_size=512,
                block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
# runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None, "clip_sample": False}
BOS, EOS = 49406, 49407


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.scale = self.hd ** -0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, self.hd).transpose(1, 2).reshape(b * self.heads, n, self.hd)
        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.bmm(q, k.transpose(1, 2)).view(b, self.heads, n, n) + mask
        w = torch.softmax(w.view(b * self.heads, n, n), dim=-1)
        o = torch.bmm(w, v).view(b, self.heads, n, self.hd).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(o)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.self_attn = Attention(d, c["num_attention_heads"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.fc1, self.fc2 = nn.Linear(d, c["intermediate_size"]), nn.Linear(c["intermediate_size"], d)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.fc2(quick_gelu(self.fc1(self.layer_norm2(x))))


class ClipText(nn.Module):
    """transformers' CLIPTextModel (eager attention), as far as SD uses it: (last_hidden_state, pooler_output)."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], d)
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).unsqueeze(0))
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        # CLIPPreTrainedModel._init_weights (factor 1): embeddings N(0, 0.02), attention and MLP by width and depth
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        L = c["num_hidden_layers"]
        for layer in self.layers:
            a = layer.self_attn
            for p in (a.q_proj, a.k_proj, a.v_proj):
                nn.init.normal_(p.weight, std=d ** -0.5 * (2 * L) ** -0.5)
            nn.init.normal_(a.out_proj.weight, std=d ** -0.5)
            nn.init.normal_(layer.fc1.weight, std=(2 * d) ** -0.5)
            nn.init.normal_(layer.fc2.weight, std=d ** -0.5 * (2 * L) ** -0.5)

    def forward(self, input_ids):
        b, n = input_ids.shape
        x = self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :n])
        # _create_4d_causal_attention_mask: finfo.min above the diagonal, 0 elsewhere
        mask = torch.full((n, n), torch.finfo(x.dtype).min).triu(1)[None, None]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        pooled = x[torch.arange(b), input_ids.to(torch.int).argmax(dim=-1)]
        return x, pooled


def export(model, args, path, inputs, outputs, dynamic_axes):
    """As the conversion script's onnx_export (torch >= 1.11 branch): opset 14, do_constant_folding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with torch.no_grad():
        torch.onnx.export(model, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
                          do_constant_folding=True, opset_version=14)
    onnx.checker.check_model(str(path))
    print(f"  wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.1f} s", flush=True)


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def tokenizer(src: Path, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    tj = json.loads((src / "tokenizer.json").read_text())
    vocab = tj["model"]["vocab"]
    special = {t["content"]: t["id"] for t in tj["added_tokens"]}
    bos_old, eos_old = special["<|startoftext|>"], special["<|endoftext|>"]
    regular = sorted((i, t) for t, i in vocab.items() if i not in (bos_old, eos_old))
    assert [i for i, _ in regular] == list(range(len(regular))), "the fixture's regular tokens are not ids 0..n-1"
    new = {t: i for i, t in regular}
    for i in range(len(regular), BOS):
        new[f"<|placeholder_{i}|>"] = i  # no merge builds these strings, so the tokenizer never emits them
    new["<|startoftext|>"], new["<|endoftext|>"] = BOS, EOS
    assert len(new) == CLIP_L["vocab_size"]
    tj["model"]["vocab"] = new
    for t in tj["added_tokens"]:
        t["id"] = BOS if t["content"] == "<|startoftext|>" else EOS
    tj["post_processor"]["cls"] = ["<|startoftext|>", BOS]
    tj["post_processor"]["sep"] = ["<|endoftext|>", EOS]
    (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False))
    (out / "vocab.json").write_text(json.dumps(new, ensure_ascii=False))
    shutil.copyfile(src / "merges.txt", out / "merges.txt")
    shutil.copyfile(src / "special_tokens_map.json", out / "special_tokens_map.json")
    cfg = json.loads((src / "tokenizer_config.json").read_text())
    dec = cfg.get("added_tokens_decoder", {})
    cfg["added_tokens_decoder"] = {str(BOS if v["content"] == "<|startoftext|>" else EOS): v for v in dec.values()}
    write_json(out / "tokenizer_config.json", cfg)
    print(f"  wrote {out} ({len(new)} entries, {len(regular)} reachable + 2 special)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--unet", required=True, help="folder with the SD-1.5-size UNet's model.onnx and weights.pb")
    ap.add_argument("--tokenizer-from", default=str(Path(__file__).resolve().parent.parent / "test" / "fixtures" / "tiny-sd" / "tokenizer"))
    a = ap.parse_args()
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    print(f"diffusers {diffusers.__version__}; torch {torch.__version__}; onnx {onnx.__version__}", flush=True)

    # text encoder
    torch.manual_seed(0)
    te = ClipText(CLIP_L).eval()
    print(f"text_encoder: CLIP ViT-L/14 text transformer, {sum(p.numel() for p in te.parameters()):,} params", flush=True)
    ids = torch.full((1, 77), EOS, dtype=torch.int32)
    ids[0, :5] = torch.tensor([BOS, 320, 530, 700, EOS])  # "A sample prompt"-like: BOS, tokens, EOS, padding
    export(te, (ids,), out / "text_encoder" / "model.onnx", ["input_ids"], ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch", 1: "sequence"}})
    del te

    # VAE
    torch.manual_seed(0)
    vae = AutoencoderKL(**SD15_VAE).eval()
    print(f"vae: AutoencoderKL {sum(p.numel() for p in vae.parameters()):,} params", flush=True)
    vae.forward = lambda sample, return_dict: vae.encode(sample, return_dict)[0].sample()
    export(vae, (torch.randn(1, 3, 512, 512), False), out / "vae_encoder" / "model.onnx", ["sample", "return_dict"],
           ["latent_sample"], {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
    vae.forward = vae.decode
    export(vae, (torch.randn(1, 4, 64, 64), False), out / "vae_decoder" / "model.onnx", ["latent_sample", "return_dict"],
           ["sample"], {"latent_sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
    cfg = {"_class_name": "AutoencoderKL", "_diffusers_version": diffusers.__version__, **dict(vae.config)}
    write_json(out / "vae_decoder" / "config.json", json.loads(json.dumps(cfg, default=list)))
    del vae

    # UNet: links to the existing export
    (out / "unet").mkdir(exist_ok=True)
    for f in ("model.onnx", "weights.pb"):
        dst, src = out / "unet" / f, Path(a.unet).resolve() / f
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        try:
            os.link(src, dst)
        except OSError:
            dst.symlink_to(src)
    print(f"  unet/ -> {a.unet}", flush=True)

    tokenizer(Path(a.tokenizer_from), out / "tokenizer")
    write_json(out / "scheduler" / "scheduler_config.json", SD15_SCHEDULER)
    onnx_model = ["diffusers", "OnnxRuntimeModel"]
    write_json(out / "model_index.json", {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": onnx_model, "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": onnx_model, "vae_decoder": onnx_model, "vae_encoder": onnx_model})
    print(f"done: {out}", flush=True)


if __name__ == "__main__":
    main()
