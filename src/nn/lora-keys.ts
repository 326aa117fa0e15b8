/**
 * LoRA adapter files (safetensors) in the ecosystem's key names, both ways. For a module key K
 * (diffusers' module path, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`; for
 * an ONNX export whose weight is an anonymous `onnx::MatMul_N`, K is the path of the node reading
 * it, which torch.onnx.export names after the module):
 *
 *   peft (written; diffusers >= 0.22 loads it)   unet.K.lora_A.weight   unet.K.lora_B.weight
 *   diffusers, older (read)                      unet.K.lora.down.weight   unet.K.lora.up.weight
 *   diffusers attention processors (read)        unet.<attn>.processor.to_q_lora.down.weight, ... to_out_lora.up.weight
 *   kohya / sd-scripts (read and written)        lora_unet_<K with . as _>.lora_down.weight, .lora_up.weight, .alpha
 *
 * A is [r, in] (Linear) or [r, I, kh, kw] (Conv), B [out, r] or [O, r, 1, 1] in every format
 * (peft's lora_A/lora_B, diffusers' LoRALinearLayer down/up, kohya's lora_down/lora_up).
 * Sources: diffusers 0.27.2 utils/state_dict_utils.py (UNET_TO_DIFFUSERS, PEFT_TO_KOHYA_SS),
 * loaders/lora.py (lora_state_dict: kohya detection) and loaders/lora_conversion_utils.py
 * (_convert_kohya_lora_to_diffusers: kohya names are module paths with `.` written `_`).
 *
 * Scale: peft/diffusers files carry no alpha (diffusers then uses lora_alpha = r, scale 1), so
 * those files are written with the scale folded into B (B' = (alpha / r) B) and read with scale 1;
 * kohya files carry `.alpha` per module (scale alpha / r). Either way the adapter's delta is exact.
 * Our files also carry `__metadata__.onnx_diffusion_lora` (rank, alpha, targets with the ONNX
 * weight names), so they apply to the model they were trained on without a lookup by name.
 * Pure (bytes in, bytes out).
 */
import { DiffusionError, FileFormatError } from '../core/errors';
import { checkLoraSpec, LoraSpec, LoraTarget } from '../core/model-config';
import { Checker } from '../core/schema';
import { Graph } from '../onnx/ir';
import { decodeSafetensors, encodeSafetensors } from '../onnx/safetensors';
import { Tensor } from '../onnx/tensor';
import { adapterDims, loraA, LoraAdapter, loraB, loraCandidates } from './lora';

export type LoraKeyFormat = 'peft' | 'diffusers' | 'kohya';
export const LORA_KEY_FORMATS: readonly LoraKeyFormat[] = ['peft', 'diffusers', 'kohya'];
export const LORA_FORMAT = 'onnx-diffusion-lora/1';
const META_KEY = 'onnx_diffusion_lora';

/** Kohya's name for a module key: `lora_unet_` + the path with dots as underscores. */
export const kohyaName = (key: string): string => `lora_unet_${key.replace(/\./g, '_')}`;

/** The file's tensor names for module key K in a format (alpha only in kohya's). */
export function adapterKeys(key: string, format: LoraKeyFormat): { a: string; b: string; alpha?: string } {
  if (format === 'peft') return { a: `unet.${key}.lora_A.weight`, b: `unet.${key}.lora_B.weight` };
  if (format === 'diffusers') return { a: `unet.${key}.lora.down.weight`, b: `unet.${key}.lora.up.weight` };
  const k = kohyaName(key);
  return { a: `${k}.lora_down.weight`, b: `${k}.lora_up.weight`, alpha: `${k}.alpha` };
}

/** What one tensor name of a LoRA file means: the module (kohya: still underscored), the part, the format. */
export interface ParsedKey {
  module: string;
  part: 'A' | 'B' | 'alpha';
  format: LoraKeyFormat;
}

const TEXT_ENCODER = /^(text_encoder(_2)?\.|lora_te\d?_)/;

/** Parses a tensor name of a LoRA file; 'text-encoder' for keys of the text encoder; undefined when unknown. */
export function parseAdapterKey(name: string): ParsedKey | 'text-encoder' | undefined {
  if (TEXT_ENCODER.test(name)) return 'text-encoder';
  let m = /^lora_unet_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(name);
  if (m) return { module: m[1], part: m[2] === 'alpha' ? 'alpha' : m[2].startsWith('lora_down') ? 'A' : 'B', format: 'kohya' };
  const n = name.replace(/^unet\./, '').replace(/\.processor\./, '.');
  if ((m = /^(.+)\.lora_(A|B)\.weight$/.exec(n))) return { module: m[1], part: m[2] as 'A' | 'B', format: 'peft' };
  if ((m = /^(.+)\.lora\.(down|up)\.weight$/.exec(n))) return { module: m[1], part: m[2] === 'down' ? 'A' : 'B', format: 'diffusers' };
  // UNET_TO_DIFFUSERS: `.to_out_lora.up` -> `.to_out.0.lora_B`, `.to_q_lora.down` -> `.to_q.lora_A`.
  if ((m = /^(.+)\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/.exec(n))) {
    return { module: `${m[1]}.${m[2] === 'to_out' ? 'to_out.0' : m[2]}`, part: m[3] === 'down' ? 'A' : 'B', format: 'diffusers' };
  }
  return undefined;
}

const scaled = (t: Tensor, s: number): Tensor => (s === 1 ? t : Tensor.float32(t.dims, (t.data as Float32Array).map((v) => v * s)));

/** An adapter file: the adapter's tensors under `format`'s names, the spec in the metadata. */
export function encodeAdapter(adapter: LoraAdapter, format: LoraKeyFormat = 'peft'): Uint8Array {
  const { spec } = adapter;
  const s = spec.alpha / spec.rank;
  const tensors = new Map<string, Tensor>();
  for (const t of spec.targets) {
    const k = adapterKeys(t.key, format);
    tensors.set(k.a, adapter.tensors.get(loraA(t.key))!);
    tensors.set(k.b, k.alpha ? adapter.tensors.get(loraB(t.key))! : scaled(adapter.tensors.get(loraB(t.key))!, s));
    if (k.alpha) tensors.set(k.alpha, Tensor.float32([], [spec.alpha]));
  }
  const written: LoraSpec = format === 'kohya' ? spec : { ...spec, alpha: spec.rank };
  return encodeSafetensors(tensors, { [META_KEY]: JSON.stringify({ format: LORA_FORMAT, keys: format, ...written }) });
}

/**
 * Reads an adapter file. Ours (with the spec in its metadata) needs no model; a file from
 * diffusers, peft or kohya is matched to `graph`'s LoRA candidates by module key.
 */
export function decodeAdapter(bytes: Uint8Array, source = 'adapter', graph?: Graph): LoraAdapter {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const raw = metadata[META_KEY];
  if (raw) return ownAdapter(tensors, raw, source);
  if (!graph) throw new FileFormatError(source, `has no '${META_KEY}' metadata: a diffusers, peft or kohya LoRA file is read against the model it adapts (give the model)`);
  return foreignAdapter(tensors, graph, source);
}

function ownAdapter(tensors: Map<string, Tensor>, raw: string, source: string): LoraAdapter {
  let obj: { keys?: unknown } & Record<string, unknown>;
  try {
    obj = JSON.parse(raw) as typeof obj;
  } catch {
    throw new FileFormatError(source, `'${META_KEY}' metadata is not JSON`);
  }
  const { keys = 'peft', ...rest } = obj;
  if (!LORA_KEY_FORMATS.includes(keys as LoraKeyFormat)) throw new FileFormatError(source, `'${META_KEY}'.keys must be one of ${LORA_KEY_FORMATS.join(', ')}, got ${JSON.stringify(keys)}`);
  const spec = checkLoraSpec(new Checker(source, 'lora'), rest);
  const out = new Map<string, Tensor>();
  for (const t of spec.targets) {
    const k = adapterKeys(t.key, keys as LoraKeyFormat);
    for (const [file, name] of [[k.a, loraA(t.key)], [k.b, loraB(t.key)]]) {
      const v = tensors.get(file);
      if (!v) throw new FileFormatError(source, `no tensor '${file}' for target '${t.key}'`);
      out.set(name, v);
    }
  }
  return { spec, tensors: out };
}

/** A diffusers/peft/kohya file as an adapter of `graph`: each module found by key, scales folded into B. */
function foreignAdapter(tensors: Map<string, Tensor>, graph: Graph, source: string): LoraAdapter {
  const modules = new Map<string, { a?: Tensor; b?: Tensor; alpha?: number; format: LoraKeyFormat }>();
  for (const [name, t] of tensors) {
    const p = parseAdapterKey(name);
    if (p === 'text-encoder') continue; // a pipeline LoRA's text-encoder half: not part of the UNet
    if (!p) throw new FileFormatError(source, `tensor '${name}' is not a LoRA key of peft (K.lora_A.weight), diffusers (K.lora.down.weight) or kohya (lora_unet_K.lora_down.weight) form`);
    const m = modules.get(p.module) ?? { format: p.format };
    if (p.part === 'alpha') m.alpha = Number(t.data[0]);
    else m[p.part === 'A' ? 'a' : 'b'] = t;
    modules.set(p.module, m);
  }
  if (modules.size === 0) throw new FileFormatError(source, 'holds no UNet LoRA tensors');
  const candidates = loraCandidates(graph);
  const byName = new Map<string, (typeof candidates)[number]>();
  for (const c of candidates) {
    byName.set(c.key, c);
    byName.set(kohyaName(c.key).slice('lora_unet_'.length), c);
  }
  let rank: number | undefined;
  const targets: LoraTarget[] = [];
  const out = new Map<string, Tensor>();
  for (const [module, m] of modules) {
    const c = byName.get(module);
    if (!c) throw new FileFormatError(source, `'${module}' names no MatMul, Gemm or Conv weight of the model (its layers are named like '${candidates[0]?.key ?? 'none'}')`);
    if (!m.a || !m.b) throw new FileFormatError(source, `'${module}' has no ${m.a ? 'up (B)' : 'down (A)'} tensor`);
    const r = m.a.dims[0];
    if (rank !== undefined && r !== rank) throw new FileFormatError(source, `'${module}' has rank ${r}, other modules ${rank} (one rank per file is supported)`);
    rank = r;
    if (m.alpha !== undefined && !(Number.isFinite(m.alpha) && m.alpha > 0)) throw new FileFormatError(source, `'${module}.alpha' must be a positive number, got ${m.alpha}`);
    // A 1x1-conv adapter on a linear layer (or back) differs only by trailing 1s: reshape when the sizes agree.
    const d = adapterDims(c, c.dims, r);
    const fit = (t: Tensor, dims: number[]) => (t.size === dims.reduce((p, x) => p * x, 1) && t.dims[0] === dims[0] ? new Tensor('float32', dims, t.data) : t);
    out.set(loraA(c.key), fit(m.a, d.a));
    out.set(loraB(c.key), scaled(fit(m.b, d.b), m.alpha === undefined ? 1 : m.alpha / r));
    targets.push({ weight: c.weight, key: c.key, layout: c.layout });
  }
  if (rank === undefined) throw new DiffusionError(`${source}: no LoRA modules`);
  return { spec: { rank, alpha: rank, targets }, tensors: out };
}
