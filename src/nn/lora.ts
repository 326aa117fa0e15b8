/**
 * Low-rank adapters (LoRA, Hu et al. 2021) for any ONNX denoiser: for a selected weight W of a
 * MatMul, Gemm or Conv node, the graph forms W' = W + (alpha / r) B A (eq. 3: h = W0 x + B A x)
 * and the node reads W' instead of W. W stays a frozen initializer; A [r, in] and B [out, r] are
 * new initializers, the only ones that train. B starts at 0, so the adapted model starts equal to
 * the base model; A starts as PyTorch's nn.Linear / peft's (uniform in +-1/sqrt(in)).
 *
 * Layouts (peft's convention for A and B, so an adapter reads like a peft one):
 *   Gemm transB=1, W [out, in]:        dW = B A
 *   MatMul (x @ W), W [in, out]:       dW = (B A)^T
 *   Conv, W [O, I, kh, kw], group 1:   A [r, I, kh, kw], B [O, r, 1, 1],
 *                                      dW = reshape(B[O, r] A[r, I*kh*kw], [O, I, kh, kw])
 * The Conv factorisation is peft's Conv2d LoRA: A is a k x k conv to r channels, B a 1x1 conv back
 * to O, i.e. rank r over W flattened to [O, I*kh*kw]. It covers every kernel size with one rule,
 * costs r (O + I k^2) values, and merges exactly (dW is a plain reshape of a matrix product).
 *
 * Adapter files are safetensors: tensors `<key>.lora_A.weight`, `<key>.lora_B.weight` and
 * `__metadata__.onnx_diffusion_lora` = JSON {format, rank, alpha, targets: [{weight, key, layout}]}.
 * Pure; no Node imports (runs in the browser entry too).
 */
import { ConfigError, DiffusionError, OptionError } from '../core/errors';
import { checkLoraSpec, LoraSpec, LoraTarget, readModelConfig, writeModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import { Checker } from '../core/schema';
import { Graph, Model, Node } from '../onnx/ir';
import { decodeSafetensors, encodeSafetensors } from '../onnx/safetensors';
import { Tensor } from '../onnx/tensor';
import { sortTopologically } from '../onnx/topo';

export type { LoraSpec, LoraTarget } from '../core/model-config';

/**
 * Attention projections by default: q, k, v and output projections as torch exports and diffusers
 * name them (`/x2/q/MatMul`, `to_q`, `mida.qkv.weight`, `mida.o.weight`), and our own `attn` blocks.
 */
export const DEFAULT_LORA_TARGETS = '*attn*,*attention*,*qkv*,*to_q*,*to_k*,*to_v*,*to_out*,*/q/*,*/k/*,*/v/*,*/o/*,*.q.*,*.k.*,*.v.*,*.o.*';

export const LORA_FORMAT = 'onnx-diffusion-lora/1';
const META_KEY = 'onnx_diffusion_lora';

export interface LoraOptions {
  rank: number;
  /** Scale numerator: dW = (alpha / rank) B A (default alpha = rank, scale 1). */
  alpha?: number;
  /** Comma-separated globs over weight names and node names ('!glob' excludes); default DEFAULT_LORA_TARGETS. */
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
const merged = (weight: string) => `${weight}/lora_merged`;

/** Comma-separated globs (`*` = any run of characters, `!` excludes) as a predicate over several names. */
function globs(pattern: string): (names: string[]) => boolean {
  const parts = pattern.split(',').map((p) => p.trim()).filter(Boolean);
  const re = (g: string) => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  const inc = parts.filter((p) => !p.startsWith('!')).map(re);
  const exc = parts.filter((p) => p.startsWith('!')).map((p) => re(p.slice(1)));
  return (names) => names.some((n) => inc.some((r) => r.test(n))) && !names.some((n) => exc.some((r) => r.test(n)));
}

/** A candidate: the node reading W, W's dims, its layout, (in, out) features and the adapter key. */
interface Candidate extends LoraTarget {
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

/** Every float weight LoRA can adapt: 2-D MatMul/Gemm weights and group-1 Conv weights. */
export function loraCandidates(graph: Graph): Candidate[] {
  const out: Candidate[] = [];
  const keys = new Set<string>();
  for (const node of graph.nodes) {
    const weight = node.inputs[1];
    const w = weight ? graph.initializers.get(weight) : undefined;
    if (!w || w.dtype !== 'float32' || out.some((c) => c.weight === weight)) continue;
    let layout: LoraTarget['layout'] | undefined;
    if (node.opType === 'MatMul' && w.dims.length === 2) layout = 'in-out';
    else if (node.opType === 'Gemm' && w.dims.length === 2) layout = node.attrs.transB?.value === 1 ? 'out-in' : 'in-out';
    else if (node.opType === 'Conv' && w.dims.length === 4 && (node.attrs.group?.value ?? 1) === 1) layout = 'conv';
    if (!layout) continue;
    let key = keyFor(weight, node);
    for (let k = 2; keys.has(key); k++) key = `${keyFor(weight, node)}_${k}`;
    keys.add(key);
    const [d0, d1] = w.dims;
    const inF = layout === 'in-out' ? d0 : layout === 'out-in' ? d1 : w.size / d0;
    const outF = layout === 'in-out' ? d1 : d0;
    out.push({ weight, key, layout, node: node.name, dims: [...w.dims], inF, outF });
  }
  return out;
}

/** The candidates whose weight name or node name matches the globs. */
export function findLoraTargets(graph: Graph, pattern = DEFAULT_LORA_TARGETS): Candidate[] {
  const match = globs(pattern);
  return loraCandidates(graph).filter((c) => match([c.weight, c.node]));
}

/** Adds the nodes forming W' = W + s dW for one target and points W's readers at W'. */
function insertOne(graph: Graph, c: LoraTarget, dims: number[], rank: number, scale: number): void {
  const p = `lora/${c.key}`;
  const cst = (name: string, t: Tensor) => {
    graph.initializers.set(`${p}/${name}`, t);
    return `${p}/${name}`;
  };
  const nodes: Node[] = [];
  const add = (op: string, inputs: string[], out: string, attrs: Node['attrs'] = {}) => {
    nodes.push({ name: `${p}/${op}_${nodes.length}`, opType: op, domain: '', inputs, outputs: [`${p}/${out}`], attrs });
    return `${p}/${out}`;
  };
  let a = loraA(c.key);
  let b = loraB(c.key);
  if (c.layout === 'conv') {
    b = add('Reshape', [b, cst('b_dims', Tensor.int64([2], [dims[0], rank]))], 'b2d');
    a = add('Reshape', [a, cst('a_dims', Tensor.int64([2], [rank, -1]))], 'a2d');
  }
  let delta = add('MatMul', [b, a], 'ba');
  if (c.layout === 'in-out') delta = add('Transpose', [delta], 'ba_t', { perm: { type: 'ints', value: [1, 0] } });
  if (c.layout === 'conv') delta = add('Reshape', [delta, cst('w_dims', Tensor.int64([4], dims))], 'ba_w');
  const scaled = add('Mul', [delta, cst('scale', Tensor.scalar(scale))], 'delta');
  nodes.push({ name: `${p}/Add`, opType: 'Add', domain: '', inputs: [c.weight, scaled], outputs: [merged(c.weight)], attrs: {} });
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === c.weight ? merged(c.weight) : i));
  graph.nodes = [...nodes, ...graph.nodes];
}

/** A's and B's shapes for a target of W's dims. */
function adapterDims(c: LoraTarget, dims: number[], rank: number): { a: number[]; b: number[] } {
  if (c.layout === 'conv') return { a: [rank, ...dims.slice(1)], b: [dims[0], rank, 1, 1] };
  const [inF, outF] = c.layout === 'in-out' ? dims : [dims[1], dims[0]];
  return { a: [rank, inF], b: [outF, rank] };
}

/**
 * A copy of `model` whose selected weights are adapted in-graph (inputs and outputs unchanged),
 * with A and B as initializers (or the given adapter's values) and `lora` in its metadata.
 */
export function insertLora(model: Model, options: LoraOptions | LoraAdapter): Model {
  if (loraSpecOf(model)) throw new DiffusionError('the model already carries LoRA adapters (merge them first: mergeLora, or export --merge)');
  const graph = model.graph.clone();
  let spec: LoraSpec;
  let values: Map<string, Tensor> | undefined;
  if ('spec' in options) {
    spec = options.spec;
    values = options.tensors;
  } else {
    const { rank, targets } = options;
    if (!Number.isInteger(rank) || rank < 1) throw new OptionError('rank', `must be a positive integer, got ${rank}`);
    const alpha = options.alpha ?? rank;
    if (!Number.isFinite(alpha)) throw new OptionError('alpha', `must be a finite number, got ${alpha}`);
    const found = findLoraTargets(graph, targets);
    if (found.length === 0) {
      const all = loraCandidates(graph).map((c) => `${c.weight} (${c.node})`);
      throw new OptionError('targets', `'${targets ?? DEFAULT_LORA_TARGETS}' matches no MatMul, Gemm or Conv weight; candidates: ${all.slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''}`);
    }
    // A rank above a weight's smaller side adds nothing (B A already has full rank) and only costs memory.
    const maxRank = Math.max(...found.map((c) => Math.min(c.inF, c.outF)));
    if (rank > maxRank) throw new OptionError('rank', `${rank} is above ${maxRank}, the largest rank any target weight has (min of its in and out features)`);
    spec = { rank, alpha, targets: found.map(({ weight, key, layout }) => ({ weight, key, layout })) };
    const rng = new Rng(options.seed ?? 0);
    values = new Map();
    for (const c of found) {
      const d = adapterDims(c, c.dims, rank);
      const bound = 1 / Math.sqrt(c.inF); // peft / nn.Linear: kaiming_uniform(a = sqrt(5))
      values.set(loraA(c.key), Tensor.float32(d.a, Array.from({ length: d.a.reduce((p, x) => p * x, 1) }, () => (2 * rng.uniform() - 1) * bound)));
      values.set(loraB(c.key), Tensor.float32(d.b));
    }
  }
  for (const t of spec.targets) {
    const w = graph.initializers.get(t.weight);
    if (!w) throw new DiffusionError(`LoRA adapter: the model has no weight '${t.weight}'`);
    const d = adapterDims(t, w.dims, spec.rank);
    for (const [name, dims] of [[loraA(t.key), d.a], [loraB(t.key), d.b]] as const) {
      const v = values.get(name);
      if (!v || v.dims.join(',') !== dims.join(',')) throw new DiffusionError(`LoRA adapter: '${name}' should be [${dims.join(',')}] for '${t.weight}' [${w.dims.join(',')}], got ${v ? `[${v.dims.join(',')}]` : 'nothing'}`);
      graph.initializers.set(name, v);
    }
    insertOne(graph, t, w.dims, spec.rank, spec.alpha / spec.rank);
  }
  sortTopologically(graph);
  const out: Model = { ...model, graph, metadata: { ...model.metadata } };
  const config = readModelConfig(model.metadata, 'model');
  if (config) writeModelConfig(out.metadata, { ...config, lora: spec });
  else out.metadata[META_KEY] = JSON.stringify(spec);
  return out;
}

/** The LoRA spec a model's metadata carries (in-graph adapters), if any. */
export function loraSpecOf(model: Model): LoraSpec | undefined {
  const config = readModelConfig(model.metadata, 'model');
  if (config?.lora) return config.lora;
  const raw = model.metadata[META_KEY];
  return raw ? checkLoraSpec(new Checker('model', 'lora'), JSON.parse(raw)) : undefined;
}

/** Splits a model with in-graph adapters into the base model (as it was before insertLora) and the adapter. */
export function extractLora(model: Model): { base: Model; adapter: LoraAdapter } {
  const spec = loraSpecOf(model);
  if (!spec) throw new DiffusionError('the model carries no LoRA adapters');
  const graph = model.graph.clone();
  const tensors = new Map<string, Tensor>();
  for (const t of spec.targets) {
    for (const name of [loraA(t.key), loraB(t.key)]) {
      const v = graph.initializers.get(name);
      if (!v) throw new DiffusionError(`the model's LoRA metadata names '${name}', which it does not hold`);
      tensors.set(name, v);
      graph.initializers.delete(name);
    }
    const back = new Map([[merged(t.weight), t.weight]]);
    graph.nodes = graph.nodes.filter((n) => !n.name.startsWith(`lora/${t.key}/`));
    for (const n of graph.nodes) n.inputs = n.inputs.map((i) => back.get(i) ?? i);
    for (const name of [...graph.initializers.keys()]) if (name.startsWith(`lora/${t.key}/`)) graph.initializers.delete(name);
  }
  const base: Model = { ...model, graph, metadata: { ...model.metadata } };
  delete base.metadata[META_KEY];
  const config = readModelConfig(model.metadata, 'model');
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
  const { spec, tensors } = adapter;
  const graph = model.graph.clone();
  const s = spec.alpha / spec.rank;
  const r = spec.rank;
  for (const t of spec.targets) {
    const w = graph.initializers.get(t.weight);
    if (!w) throw new DiffusionError(`LoRA adapter: the model has no weight '${t.weight}'`);
    const a = tensors.get(loraA(t.key))?.data as Float32Array | undefined;
    const b = tensors.get(loraB(t.key))?.data as Float32Array | undefined;
    if (!a || !b) throw new DiffusionError(`LoRA adapter: no tensors for '${t.key}'`);
    const outF = t.layout === 'in-out' ? w.dims[1] : w.dims[0];
    const inF = w.size / outF;
    if (a.length !== r * inF || b.length !== outF * r) throw new DiffusionError(`LoRA adapter: '${t.key}' does not fit '${t.weight}' [${w.dims.join(',')}] at rank ${r}`);
    const wd = w.data as Float32Array;
    const out = new Float32Array(w.size);
    for (let o = 0; o < outF; o++) {
      for (let i = 0; i < inF; i++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += b[o * r + k] * a[k * inF + i];
        // [out, in] for out-in and conv (row-major = W's flat order); [in, out] for in-out.
        const at = t.layout === 'in-out' ? i * outF + o : o * inF + i;
        out[at] = wd[at] + s * sum;
      }
    }
    graph.initializers.set(t.weight, new Tensor('float32', [...w.dims], out));
  }
  return { ...model, graph, metadata: { ...model.metadata } };
}

/** An adapter file: safetensors with the spec in `__metadata__`. */
export function encodeAdapter(adapter: LoraAdapter): Uint8Array {
  return encodeSafetensors(adapter.tensors, { [META_KEY]: JSON.stringify({ format: LORA_FORMAT, ...adapter.spec }) });
}

export function decodeAdapter(bytes: Uint8Array, source = 'adapter'): LoraAdapter {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const raw = metadata[META_KEY];
  if (!raw) throw new ConfigError(source, `no '${META_KEY}' in the safetensors metadata (not an onnx-diffusion LoRA adapter)`);
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new ConfigError(source, `'${META_KEY}' metadata is not JSON`);
  }
  return { spec: checkLoraSpec(new Checker(source, 'lora'), obj), tensors };
}

/** An adapter from trained values (e.g. the trainer's flat vector sliced by its parameter layout). */
export function adapterFrom(spec: LoraSpec, values: (name: string) => Tensor): LoraAdapter {
  const tensors = new Map<string, Tensor>();
  for (const t of spec.targets) for (const name of [loraA(t.key), loraB(t.key)]) tensors.set(name, values(name));
  return { spec, tensors };
}
