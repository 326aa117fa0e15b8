/**
 * Half-precision weight storage: a model whose large float32 initializers are stored as float16
 * and widened back by a Cast at the top of the graph. The file is about half the size (what the
 * web demo downloads) while every operator still computes in float32, so it runs on every
 * execution provider (onnxruntime's CPU kernels have no float16 Conv) and the inputs and outputs
 * keep their types. ONNX Runtime folds the Casts into constants when it creates the session, so
 * sampling costs the same as with the float32 file; only the rounding of the weights changes
 * (relative error at most 2^-11 per weight, measured on the samples by `evaluate`).
 */
import { DiffusionError } from '../core/errors';
import { WEIGHTS_DTYPE_KEY } from './metadata';
import { Graph, Model, Node } from './ir';
import { floatToHalf, halfToFloat, Tensor } from './tensor';

/** Suffix of the stored float16 copy of an initializer; the Cast writes the original name. */
export const HALF_SUFFIX = '__fp16';
/** Metadata key recording the storage precision of the weights. */
export { WEIGHTS_DTYPE_KEY };

export interface HalfWeightsOptions {
  /** Initializers with fewer elements stay float32 (scalars and schedule constants). Default 16. */
  minElements?: number;
}

/** Storage statistics of a conversion. */
export interface HalfWeightsReport {
  /** Initializers stored as float16. */
  converted: number;
}

/**
 * A copy of `model` with every float32 initializer of at least `minElements` elements stored as
 * float16 plus a Cast back to float32. Values beyond float16's range (|x| > 65504) would become
 * infinite, so they are refused rather than silently saturated.
 */
export function halfPrecisionWeights(model: Model, options: HalfWeightsOptions = {}): { model: Model; report: HalfWeightsReport } {
  const minElements = options.minElements ?? 16;
  const g = model.graph.clone();
  const graphInputs = new Set(g.inputs.map((v) => v.name));
  const casts: Node[] = [];
  const inits = new Map<string, Tensor>();
  for (const [name, t] of g.initializers) {
    if (t.dtype !== 'float32' || t.size < minElements || graphInputs.has(name)) {
      inits.set(name, t);
      continue;
    }
    const src = t.data as Float32Array;
    const bits = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (Math.abs(v) > 65504 && Number.isFinite(v)) throw new DiffusionError(`initializer ${name}: weight ${v} at index ${i} exceeds float16's largest value 65504`);
      bits[i] = floatToHalf(v);
    }
    inits.set(name + HALF_SUFFIX, new Tensor('float16', [...t.dims], bits));
    casts.push({ name: `${name}${HALF_SUFFIX}_cast`, opType: 'Cast', domain: '', inputs: [name + HALF_SUFFIX], outputs: [name], attrs: { to: { type: 'int', value: 1 } } });
    g.valueInfo.set(name, { name, dtype: 'float32', shape: [...t.dims] });
  }
  g.initializers = inits;
  g.nodes = [...casts, ...g.nodes];
  const out: Model = { ...model, graph: g, metadata: { ...model.metadata, [WEIGHTS_DTYPE_KEY]: 'float16' } };
  return { model: out, report: { converted: casts.length } };
}

/**
 * The inverse: Cast(float16 initializer) -> float32 initializer under the Cast's output name, so a
 * half-stored model can be fine-tuned (its weights are initializers again) or re-exported. Models
 * without such Casts are returned unchanged (same object).
 */
export function fullPrecisionWeights(model: Model): Model {
  const g0 = model.graph;
  const isHalfCast = (n: Node): boolean =>
    n.opType === 'Cast' && n.domain === '' && n.inputs.length === 1 && g0.initializers.get(n.inputs[0])?.dtype === 'float16' && n.attrs.to?.type === 'int' && n.attrs.to.value === 1;
  if (!g0.nodes.some(isHalfCast)) return model;
  const g: Graph = g0.clone();
  const uses = g.consumers();
  const keep: Node[] = [];
  // Widened weights take their float16 copy's place, so parameter order (and a trainer's flat
  // layout) matches the file the half copy was made from.
  const widened = new Map<string, [string, Tensor][]>();
  for (const n of g.nodes) {
    if (!isHalfCast(n)) {
      keep.push(n);
      continue;
    }
    const half = g.initializers.get(n.inputs[0]) as Tensor;
    const bits = half.data as Uint16Array;
    const f = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) f[i] = halfToFloat(bits[i]);
    widened.set(n.inputs[0], [...(widened.get(n.inputs[0]) ?? []), [n.outputs[0], new Tensor('float32', [...half.dims], f)]]);
    g.valueInfo.delete(n.outputs[0]);
  }
  const inits = new Map<string, Tensor>();
  for (const [name, t] of g.initializers) {
    const wide = widened.get(name);
    if (!wide) inits.set(name, t);
    else {
      for (const [out, w] of wide) inits.set(out, w);
      // Still read by another node than its Casts: keep the float16 tensor too.
      if ((uses.get(name) ?? []).length > wide.length) inits.set(name, t);
    }
  }
  g.initializers = inits;
  g.nodes = keep;
  const metadata = { ...model.metadata };
  delete metadata[WEIGHTS_DTYPE_KEY];
  return { ...model, graph: g, metadata };
}
