/**
 * Low-rank adapters (LoRA, Hu et al. 2021) for any ONNX denoiser, on the activation path as peft
 * applies them (peft/tuners/lora/layer.py, Linear.forward: result = base_layer(x) + lora_B(lora_A(x)) * scaling):
 * for a selected weight W of a MatMul, Gemm or Conv node, the node's output y = W x (+ bias)
 * becomes y + s B (A x), s = alpha / r (eq. 3: h = W0 x + B A x). W stays a frozen initializer,
 * read only by its own node: no weight gradient, no full-size product, no copy. A [r, in] and
 * B [out, r] are new initializers, the only ones that train. B starts at 0, so the adapted model
 * starts equal to the base model; A starts as PyTorch's nn.Linear / peft's (uniform in +-1/sqrt(in)).
 *
 * Layouts (peft's convention for A and B, so an adapter reads like a peft one):
 *   Gemm transB=1, W [out, in]:        delta = Gemm(Gemm(x, A, transB), B, transB)     dW = B A
 *   MatMul (x @ W), W [in, out]:       delta = (x @ A^T) @ B^T                          dW = (B A)^T
 *   Conv, W [O, I, kh, kw], group 1:   delta = Conv1x1(Conv(x, A; W's strides, pads), B)
 *                                      A [r, I, kh, kw], B [O, r, 1, 1], dW = reshape(B[O, r] A[r, I*kh*kw])
 * The Conv factorisation is peft's Conv2d LoRA: A is a k x k conv to r channels, B a 1x1 conv back
 * to O, i.e. rank r over W flattened to [O, I*kh*kw]. mergeLora folds dW into W on the host
 * (W' = W + s dW), the same function of x as the activation path.
 *
 * Adapter files: nn/lora-keys.ts (peft/diffusers/kohya key names). Pure; no Node imports.
 */
import { DiffusionError, OptionError } from '../core/errors';
import { globMatcher, globParts } from '../core/glob';
import { checkLoraSpec, LoraSpec, LoraTarget, ModelConfig, readModelConfig, writeModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import { Checker } from '../core/schema';
import { Graph, Model, Node } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';
import { sortTopologically } from '../onnx/topo';

export { decodeAdapter, encodeAdapter, LORA_FORMAT } from './lora-keys';

export type { LoraSpec, LoraTarget } from '../core/model-config';

/** What a preset picks, judged from a candidate's module key and layout. */
const ATTN = /(^|\.)(to_q|to_k|to_v|to_out\.0|q|k|v|o|qkv)$|(^|\.)attn(\.\d+)?\.proj$/;
const FF = /(^|\.)ff\.net\.(0\.proj|2)$/;

/**
 * Named target sets, usable wherever a glob is (`--lora-targets attn+ff,!*mid_block*`):
 * - `attn`: the attention projections: diffusers' `to_q`, `to_k`, `to_v`, `to_out.0` in self- and
 *   cross-attention (the target_modules of diffusers' examples/text_to_image/train_text_to_image_lora.py),
 *   and this project's `attn.<i>.qkv|proj` and torch-style `q`, `k`, `v`, `o`;
 * - `attn+ff`: also the transformer blocks' feed-forward (`ff.net.0.proj`, `ff.net.2`);
 * - `all-linear`: every MatMul/Gemm weight (peft's "all-linear");
 * - `all-linear+conv`: every candidate, convolutions included.
 */
export const LORA_PRESETS: Readonly<Record<string, (c: LoraTarget) => boolean>> = {
  attn: (c) => ATTN.test(c.key),
  'attn+ff': (c) => ATTN.test(c.key) || FF.test(c.key),
  'all-linear': (c) => c.layout !== 'conv',
  'all-linear+conv': () => true,
};

/** The default targets: the attention projections (preset `attn`). */
export const DEFAULT_LORA_TARGETS = 'attn';

/** The metadata key of a model whose config cannot hold the spec (no onnx-diffusion config). */
const META_KEY = 'onnx_diffusion_lora';

export interface LoraOptions {
  rank: number;
  /** Scale numerator: dW = (alpha / rank) B A (default alpha = rank, scale 1). */
  alpha?: number;
  /** Comma-separated presets (LORA_PRESETS) and globs over module keys, weight names and node names ('!' excludes); default 'attn'. */
  targets?: string;
  /** Seed of A's initialisation (default 0). */
  seed?: number;
}

/** An adapter: where each pair sits, and A and B by `<key>.lora_A.weight` / `<key>.lora_B.weight`. */
export interface LoraAdapter {
  spec: LoraSpec;
  tensors: Map<string, Tensor>;
}

export const loraA = (key: string): string => `${key}.lora_A.weight`;
export const loraB = (key: string): string => `${key}.lora_B.weight`;
/** The globs that select exactly the adapters as the trainable parameters. */
export const LORA_TRAINABLE = '*.lora_A.weight,*.lora_B.weight';

/** A candidate: the node reading W, W's dims, its layout, (in, out) features and the adapter key. */
export interface LoraCandidate extends LoraTarget {
  node: string;
  dims: number[];
  inF: number;
  outF: number;
}

/** A readable key: the weight's name without `.weight`, or for torch's `onnx::MatMul_611` the node's path. */
function keyFor(weight: string, node: Node): string {
  if (!weight.startsWith('onnx::')) return weight.replace(/\.weight$/, '');
  const parts = node.name.split('/').filter(Boolean);
  return (parts.length > 1 ? parts.slice(0, -1) : parts).join('.') || weight.replace(/[^A-Za-z0-9_.]/g, '_');
}

/** A weight's type and dims: an initializer, or a tensor left in external data by a header-only read. */
export interface WeightInfo {
  dtype: string;
  dims: readonly number[];
}

/** W's layout as `node` reads it (as input 1), or undefined when LoRA cannot adapt that use. */
function layoutOf(node: Node, w: WeightInfo): LoraTarget['layout'] | undefined {
  if (node.opType === 'MatMul' && w.dims.length === 2) return 'in-out';
  if (node.opType === 'Gemm' && w.dims.length === 2 && (node.attrs.transA?.value ?? 0) === 0) return node.attrs.transB?.value === 1 ? 'out-in' : 'in-out';
  if (node.opType === 'Conv' && w.dims.length === 4 && (node.attrs.group?.value ?? 1) === 1) return 'conv';
  return undefined;
}

/** The nodes reading `weight`, when every one reads it as input 1 of the same op and layout (else none). */
function readersOf(graph: Graph, weight: string, w: WeightInfo): Node[] {
  const readers = graph.nodes.filter((n) => n.inputs.includes(weight));
  const layout = readers.length > 0 ? layoutOf(readers[0], w) : undefined;
  const same = readers.every((n) => n.inputs.indexOf(weight) === 1 && n.inputs.lastIndexOf(weight) === 1 && n.opType === readers[0].opType && layoutOf(n, w) === layout);
  return layout && same ? readers : [];
}

/**
 * Every float weight LoRA can adapt: 2-D MatMul/Gemm weights and group-1 Conv weights, in graph
 * order. `external` describes weights that are not among the graph's initializers (a model read
 * without its external data, e.g. for `inspect`).
 */
export function loraCandidates(graph: Graph, external?: ReadonlyMap<string, WeightInfo>): LoraCandidate[] {
  const out: LoraCandidate[] = [];
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (const node of graph.nodes) {
    const weight = node.inputs[1];
    const w: WeightInfo | undefined = weight ? graph.initializers.get(weight) ?? external?.get(weight) : undefined;
    if (!w || w.dtype !== 'float32' || seen.has(weight)) continue;
    seen.add(weight);
    const layout = readersOf(graph, weight, w).length > 0 ? layoutOf(node, w) : undefined;
    if (!layout) continue;
    let key = keyFor(weight, node);
    for (let k = 2; keys.has(key); k++) key = `${keyFor(weight, node)}_${k}`;
    keys.add(key);
    const [d0, d1] = w.dims;
    const inF = layout === 'in-out' ? d0 : layout === 'out-in' ? d1 : w.dims.slice(1).reduce((p, d) => p * d, 1);
    const outF = layout === 'in-out' ? d1 : d0;
    out.push({ weight, key, layout, node: node.name, dims: [...w.dims], inF, outF });
  }
  return out;
}

/**
 * The candidates a targets pattern picks: comma-separated presets (LORA_PRESETS) and globs
 * (core/glob.ts) over each candidate's module key, weight name and node name; `!` excludes.
 */
export function findLoraTargets(graph: Graph, pattern = DEFAULT_LORA_TARGETS, external?: ReadonlyMap<string, WeightInfo>): LoraCandidate[] {
  const { include, exclude } = globParts(pattern);
  const picks = (items: string[]) => {
    const presets = items.filter((p) => p in LORA_PRESETS).map((p) => LORA_PRESETS[p]);
    const globs = items.filter((p) => !(p in LORA_PRESETS));
    const match = globs.length > 0 ? globMatcher(globs.join(',')) : undefined;
    return (c: LoraCandidate) => presets.some((f) => f(c)) || (match?.([c.key, c.weight, c.node]) ?? false);
  };
  const inc = picks(include);
  const exc = picks(exclude);
  return loraCandidates(graph, external).filter((c) => (include.length === 0 || inc(c)) && !exc(c));
}

/**
 * Adds y <- y + s B (A x) after each node reading the target's weight (its output keeps its name;
 * the base node's output is renamed `lora/<key>[/<j>]/base`).
 */
function insertOne(graph: Graph, c: LoraTarget, rank: number, scale: number): void {
  const w = graph.initializers.get(c.weight)!;
  const readers = readersOf(graph, c.weight, w);
  if (readers.length === 0) throw new DiffusionError(`LoRA: weight '${c.weight}' is not read as input 1 of MatMul, Gemm or group-1 Conv nodes only`);
  const added: Node[] = [];
  readers.forEach((node, j) => {
    const p = readers.length > 1 ? `lora/${c.key}/${j}` : `lora/${c.key}`;
    const add = (op: string, inputs: string[], out: string, attrs: Node['attrs'] = {}) => {
      added.push({ name: `${p}/${op}_${added.length}`, opType: op, domain: '', inputs, outputs: [`${p}/${out}`], attrs });
      return `${p}/${out}`;
    };
    const x = node.inputs[0];
    const y = node.outputs[0];
    const T = { perm: { type: 'ints' as const, value: [1, 0] } };
    let delta: string;
    if (c.layout === 'conv') {
      // A is a conv with W's kernel, strides, pads and dilations (peft Conv2d: lora_A copies them); B is 1x1.
      const { group: _, ...attrs } = node.attrs;
      delta = add('Conv', [add('Conv', [x, loraA(c.key)], 'ax', attrs), loraB(c.key)], 'bax');
    } else if (c.layout === 'out-in') {
      const transB = { type: 'int' as const, value: 1 };
      delta = add('Gemm', [add('Gemm', [x, loraA(c.key)], 'ax', { transB }), loraB(c.key)], 'bax', { transB });
    } else {
      const at = add('Transpose', [loraA(c.key)], 'a_t', T);
      const bt = add('Transpose', [loraB(c.key)], 'b_t', T);
      delta = add('MatMul', [add('MatMul', [x, at], 'ax'), bt], 'bax');
    }
    // Gemm's alpha scales W x; scaling the delta alike keeps the activation path equal to the merged W'.
    const gemmAlpha = node.opType === 'Gemm' ? Number(node.attrs.alpha?.value ?? 1) : 1;
    const s = `${p}/scale`;
    graph.initializers.set(s, Tensor.scalar(scale * gemmAlpha));
    const scaled = add('Mul', [delta, s], 'delta');
    node.outputs[0] = `${p}/base`;
    added.push({ name: `${p}/Add`, opType: 'Add', domain: '', inputs: [node.outputs[0], scaled], outputs: [y], attrs: {} });
  });
  graph.nodes.push(...added);
}

/** A's and B's shapes for a target of W's dims. */
export function adapterDims(c: LoraTarget, dims: readonly number[], rank: number): { a: number[]; b: number[] } {
  if (c.layout === 'conv') return { a: [rank, ...dims.slice(1)], b: [dims[0], rank, 1, 1] };
  const [inF, outF] = c.layout === 'in-out' ? dims : [dims[1], dims[0]];
  return { a: [rank, inF], b: [outF, rank] };
}

/**
 * Checks an adapter against a graph: a positive finite alpha, each weight and key targeted once,
 * every target a weight of the graph, A and B present, of the target's shapes, and finite.
 */
export function checkAdapter(graph: Graph, adapter: LoraAdapter, source = 'LoRA adapter'): void {
  const { spec, tensors } = adapter;
  if (!(Number.isFinite(spec.alpha) && spec.alpha > 0)) throw new DiffusionError(`${source}: alpha must be a positive number, got ${spec.alpha}`);
  if (!Number.isFinite(Math.fround(spec.alpha / spec.rank))) throw new DiffusionError(`${source}: alpha / rank = ${spec.alpha / spec.rank} overflows float32`);
  const weights = new Set<string>();
  const keys = new Set<string>();
  for (const t of spec.targets) {
    if (weights.has(t.weight)) throw new DiffusionError(`${source}: weight '${t.weight}' is targeted twice`);
    if (keys.has(t.key)) throw new DiffusionError(`${source}: key '${t.key}' is used twice`);
    weights.add(t.weight);
    keys.add(t.key);
    const w = graph.initializers.get(t.weight);
    if (!w) throw new DiffusionError(`${source}: the model has no weight '${t.weight}' (target '${t.key}')`);
    const d = adapterDims(t, w.dims, spec.rank);
    const [outF, inF] = [d.b[0], d.a.slice(1).reduce((p, x) => p * x, 1)];
    if (spec.rank > Math.min(inF, outF)) throw new DiffusionError(`${source}: rank ${spec.rank} exceeds min(in, out) = ${Math.min(inF, outF)} of '${t.key}' (a higher rank adds nothing)`);
    for (const [name, dims] of [[loraA(t.key), d.a], [loraB(t.key), d.b]] as const) {
      const v = tensors.get(name);
      if (!v || v.dims.join(',') !== dims.join(',')) {
        throw new DiffusionError(`${source}: '${name}' should be [${dims.join(',')}] for '${t.weight}' [${w.dims.join(',')}] at rank ${spec.rank}, got ${v ? `[${v.dims.join(',')}]` : 'nothing'}`);
      }
      const data = v.data as Float32Array;
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new DiffusionError(`${source}: '${name}' holds a non-finite value (${data[i]}) at index ${i}`);
    }
  }
}

/**
 * A copy of `model` whose selected layers add s B (A x) to their outputs (inputs and outputs
 * unchanged), with A and B as initializers (or the given adapter's values) and `lora` in its metadata.
 */
export function insertLora(model: Model, options: LoraOptions | LoraAdapter): Model {
  return insertLoraWith(model, options, readModelConfig(model.metadata, 'model')).model;
}

/**
 * insertLora over a config the caller has already parsed from `model`'s metadata (undefined: the
 * model carries none), so it is not parsed again; also returns the spec written.
 * @internal
 */
export function insertLoraWith(model: Model, options: LoraOptions | LoraAdapter, config: ModelConfig | undefined): { model: Model; spec: LoraSpec } {
  if (loraSpecIn(model, config)) throw new DiffusionError('the model already carries LoRA adapters (merge them first: mergeLora, or export --merge)');
  const graph = model.graph.clone();
  let adapter: LoraAdapter;
  if ('spec' in options) adapter = options;
  else {
    const { rank, targets } = options;
    if (!Number.isInteger(rank) || rank < 1) throw new OptionError('rank', `must be a positive integer, got ${rank}`);
    const alpha = options.alpha ?? rank;
    if (!(Number.isFinite(alpha) && alpha > 0)) throw new OptionError('alpha', `must be a positive number, got ${alpha}`);
    const found = findLoraTargets(graph, targets);
    if (found.length === 0) {
      const all = loraCandidates(graph).map((c) => c.key);
      throw new OptionError('targets', `'${targets ?? DEFAULT_LORA_TARGETS}' matches no MatMul, Gemm or Conv weight; candidates: ${all.slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''}`);
    }
    const narrow = found.find((c) => rank > Math.min(c.inF, c.outF));
    if (narrow) throw new OptionError('rank', `${rank} exceeds min(in, out) = ${Math.min(narrow.inF, narrow.outF)} of '${narrow.key}' (a higher rank adds nothing)`);
    const rng = new Rng(options.seed ?? 0);
    const tensors = new Map<string, Tensor>();
    for (const c of found) {
      const d = adapterDims(c, c.dims, rank);
      const bound = 1 / Math.sqrt(c.inF); // peft / nn.Linear: kaiming_uniform(a = sqrt(5))
      tensors.set(loraA(c.key), Tensor.float32(d.a, Array.from({ length: d.a.reduce((p, x) => p * x, 1) }, () => (2 * rng.uniform() - 1) * bound)));
      tensors.set(loraB(c.key), Tensor.float32(d.b));
    }
    adapter = { spec: { rank, alpha, targets: found.map(({ weight, key, layout }) => ({ weight, key, layout })) }, tensors };
  }
  checkAdapter(graph, adapter);
  const { spec, tensors } = adapter;
  for (const t of spec.targets) {
    graph.initializers.set(loraA(t.key), tensors.get(loraA(t.key))!);
    graph.initializers.set(loraB(t.key), tensors.get(loraB(t.key))!);
    insertOne(graph, t, spec.rank, spec.alpha / spec.rank);
  }
  sortTopologically(graph);
  const out: Model = { ...model, graph, metadata: { ...model.metadata } };
  if (config) writeModelConfig(out.metadata, { ...config, lora: spec });
  else out.metadata[META_KEY] = JSON.stringify(spec);
  return { model: out, spec };
}

/** The LoRA spec a model's metadata carries (in-graph adapters), if any. */
export function loraSpecOf(model: Model): LoraSpec | undefined {
  return loraSpecIn(model, readModelConfig(model.metadata, 'model'));
}

/** The LoRA spec of `model`, whose metadata's config is `config` (already parsed). */
function loraSpecIn(model: Model, config: ModelConfig | undefined): LoraSpec | undefined {
  if (config?.lora) return config.lora;
  const raw = model.metadata[META_KEY];
  return raw ? checkLoraSpec(new Checker('model', 'lora'), JSON.parse(raw)) : undefined;
}

/** Splits a model with in-graph adapters into the base model (as it was before insertLora) and the adapter. */
export function extractLora(model: Model): { base: Model; adapter: LoraAdapter } {
  const config = readModelConfig(model.metadata, 'model');
  const spec = loraSpecIn(model, config);
  if (!spec) throw new DiffusionError('the model carries no LoRA adapters');
  const graph = model.graph.clone();
  const tensors = new Map<string, Tensor>();
  const back = new Map<string, string>();
  for (const t of spec.targets) {
    for (const name of [loraA(t.key), loraB(t.key)]) {
      const v = graph.initializers.get(name);
      if (!v) throw new DiffusionError(`the model's LoRA metadata names '${name}', which it does not hold`);
      tensors.set(name, v);
      graph.initializers.delete(name);
    }
    const mine = (name: string) => name === `lora/${t.key}` || name.startsWith(`lora/${t.key}/`);
    for (const n of graph.nodes) if (mine(n.name) && n.opType === 'Add' && n.inputs[0].endsWith('/base')) back.set(n.inputs[0], n.outputs[0]);
    graph.nodes = graph.nodes.filter((n) => !mine(n.name));
    for (const name of [...graph.initializers.keys()]) if (mine(name)) graph.initializers.delete(name);
  }
  for (const n of graph.nodes) n.outputs = n.outputs.map((o) => back.get(o) ?? o);
  const base: Model = { ...model, graph, metadata: { ...model.metadata } };
  delete base.metadata[META_KEY];
  if (config) {
    const { lora: _, ...rest } = config;
    writeModelConfig(base.metadata, rest);
  }
  return { base, adapter: { spec, tensors } };
}

/**
 * W <- W + (alpha / r) dW for every target, on the host (float64 sums, one float32 rounding):
 * a model with the base's inputs, outputs and nodes. A model with in-graph adapters is merged
 * with its own adapters when `adapter` is omitted.
 */
export function mergeLora(model: Model, adapter?: LoraAdapter): Model {
  if (!adapter) ({ base: model, adapter } = extractLora(model));
  else if (loraSpecOf(model)) throw new DiffusionError('the model already carries LoRA adapters; merge those first (mergeLora, or export --merge) or use its base model');
  checkAdapter(model.graph, adapter);
  const { spec, tensors } = adapter;
  const graph = model.graph.clone();
  const s = spec.alpha / spec.rank;
  const r = spec.rank;
  for (const t of spec.targets) {
    const w = graph.initializers.get(t.weight)!;
    const a = tensors.get(loraA(t.key))!.data as Float32Array;
    const b = tensors.get(loraB(t.key))!.data as Float32Array;
    const outF = t.layout === 'in-out' ? w.dims[1] : w.dims[0];
    const inF = w.size / outF;
    const wd = w.data as Float32Array;
    const out = new Float32Array(w.size);
    for (let o = 0; o < outF; o++) {
      for (let i = 0; i < inF; i++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += b[o * r + k] * a[k * inF + i];
        // [out, in] for out-in and conv (row-major = W's flat order); [in, out] for in-out.
        const at = t.layout === 'in-out' ? i * outF + o : o * inF + i;
        out[at] = wd[at] + s * sum;
        if (!Number.isFinite(out[at])) throw new DiffusionError(`LoRA merge: '${t.weight}' would hold a non-finite value (${out[at]}) at index ${at}`);
      }
    }
    graph.initializers.set(t.weight, new Tensor('float32', [...w.dims], out));
  }
  return { ...model, graph, metadata: { ...model.metadata } };
}

/** An adapter from trained values (e.g. the trainer's flat vector sliced by its parameter layout). */
export function adapterFrom(spec: LoraSpec, values: (name: string) => Tensor): LoraAdapter {
  const tensors = new Map<string, Tensor>();
  for (const t of spec.targets) for (const name of [loraA(t.key), loraB(t.key)]) tensors.set(name, values(name));
  return { spec, tensors };
}
