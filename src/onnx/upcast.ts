/**
 * float16 graphs widened to float32 before a session is made. onnxruntime's CPU execution provider
 * (onnxruntime-node 1.29 on x86-64) and onnxruntime-web's wasm one have no float16 kernel for
 * Conv, InstanceNormalization, Resize, Softmax and more (docs/stable-diffusion.md, "float16
 * exports", lists what each runs), so an optimum `--fp16` Stable Diffusion folder fails at session
 * creation there. The pass rewrites the ModelProto in place so that every float16 tensor becomes
 * float32: initializers (inline or external), Constant / ConstantOfShape tensor attributes,
 * Cast(to=float16), the dtype attribute of the Random* and EyeLike ops, and the element type of
 * graph inputs, outputs and value_info, subgraphs included. The computation is then the float16
 * graph's, in float32 (the float16 weights are exact in float32), and feeds are float32.
 *
 * Memory: external float16 tensors are read one at a time (`readExternal`) and each widened
 * tensor is handed to `place`, which may write it to a file instead of keeping it, so an SD-size
 * UNet (1.7 GB float16 -> 3.4 GB float32) is never held twice. Isomorphic: no Node API.
 */
import { DiffusionError } from '../core/errors';
import { checkSpan, externalRefFromProto, isExternal } from './external-data';
import { onnx } from './onnx-proto';
import type { Graph, Model, Node } from './ir';
import { halfToFloat, Tensor, type DType } from './tensor';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

/** Ops whose integer `dtype` attribute names an output element type (ONNX operator specs). */
const DTYPE_ATTR_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike', 'Multinomial', 'Bernoulli']);

/** Where upcast tensors come from and go (a file-system or in-memory edge). @internal */
export interface UpcastIo {
  /** The bytes of an external float16 tensor: dims' product times 2, little-endian. */
  readExternal(tensor: onnx.ITensorProto): Uint8Array;
  /**
   * The TensorProto that takes a widened initializer's place (default: inline raw_data). A Node
   * edge writes large ones to a data file beside the new graph and returns an external proto.
   */
  place?(name: string, dims: number[], data: Float32Array): onnx.ITensorProto;
}

/** What the pass changed. */
export interface UpcastReport {
  /** Initializers and tensor attributes widened. */
  tensors: number;
  /** Float16 bytes of those tensors (their float32 copies are twice this). */
  float16Bytes: number;
  /** Cast / dtype attributes and value types rewritten. */
  types: number;
}

let table: Float32Array | undefined;
/** Every float16 bit pattern's value (256 KB): the conversion is one lookup per element. */
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}

/** float16 bits (little-endian bytes) -> float32 values. */
export function widenHalfBytes(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >> 1;
  // an odd offset (a view into a decoded protobuf) is copied; Buffer#slice would not copy
  const bits = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(new Uint8Array(bytes).buffer, 0, n);
  return widenHalfBits(bits);
}

type LongLike = number | { toNumber(): number };
const dimsOf = (p: onnx.ITensorProto): number[] => (p.dims ?? []).map((d) => (typeof d === 'number' ? d : (d as LongLike & object).toNumber()));

/** A float16 TensorProto's values as float32 (raw_data, int32_data bits, or external). */
function halfValues(p: onnx.ITensorProto, io: UpcastIo): Float32Array {
  if (isExternal(p)) return widenHalfBytes(io.readExternal(p));
  if (p.rawData && p.rawData.length > 0) return widenHalfBytes(p.rawData);
  const t = halfTable();
  return Float32Array.from(p.int32Data ?? [], (h) => t[h & 0xffff]);
}

const inline = (name: string, dims: number[], data: Float32Array): onnx.ITensorProto =>
  ({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });

/** True when the graph (or a subgraph) declares or stores any float16 tensor. @internal */
export function hasFloat16(model: onnx.IModelProto): boolean {
  const inGraph = (g: onnx.IGraphProto | null | undefined): boolean => {
    if (!g) return false;
    const vi = [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])];
    if (vi.some((v) => v.type?.tensorType?.elemType === FLOAT16)) return true;
    if ((g.initializer ?? []).some((t) => t.dataType === FLOAT16)) return true;
    return (g.node ?? []).some((n) => (n.attribute ?? []).some((a) =>
      a.t?.dataType === FLOAT16 || (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === FLOAT16) || inGraph(a.g) || (a.graphs ?? []).some(inGraph)));
  };
  return inGraph(model.graph);
}

export { hasFloat16Weights } from './metadata';

/** Rewrites `model` (in place) so that it computes in float32 wherever it computed in float16. @internal */
export function upcastFloat16(model: onnx.IModelProto, io: UpcastIo): UpcastReport {
  const report: UpcastReport = { tensors: 0, float16Bytes: 0, types: 0 };
  const place = io.place ?? inline;
  const widen = (p: onnx.ITensorProto, keep: boolean): onnx.ITensorProto => {
    const dims = dimsOf(p);
    const data = halfValues(p, io);
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new DiffusionError(`tensor '${p.name ?? ''}': ${data.length} float16 values, expected ${expected} for dims [${dims.join(', ')}]`);
    }
    report.tensors++;
    report.float16Bytes += 2 * data.length;
    return keep ? place(p.name ?? '', dims, data) : inline(p.name ?? '', dims, data);
  };
  const retype = (vs: onnx.IValueInfoProto[] | null | undefined): void => {
    for (const v of vs ?? []) {
      const tt = v.type?.tensorType;
      if (tt && tt.elemType === FLOAT16) {
        tt.elemType = FLOAT;
        report.types++;
      }
    }
  };
  const graph = (g: onnx.IGraphProto | null | undefined): void => {
    if (!g) return;
    retype(g.input);
    retype(g.output);
    retype(g.valueInfo);
    g.initializer = (g.initializer ?? []).map((t) => (t.dataType === FLOAT16 ? widen(t, true) : t));
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t && a.t.dataType === FLOAT16) a.t = widen(a.t, false);
        if (a.tensors) a.tensors = a.tensors.map((t) => (t.dataType === FLOAT16 ? widen(t, false) : t));
        const typeAttr = ((n.domain ?? '') === '') && ((n.opType === 'Cast' && a.name === 'to') || (DTYPE_ATTR_OPS.has(n.opType ?? '') && a.name === 'dtype'));
        if (typeAttr && Number(a.i) === FLOAT16) {
          a.i = FLOAT;
          report.types++;
        }
        graph(a.g);
        for (const sub of a.graphs ?? []) graph(sub);
      }
    }
  };
  graph(model.graph);
  return report;
}

/**
 * The bytes of an upcast copy of an ONNX model, or undefined when it has no float16 (nothing to
 * do). `fetchFile` gives an external data file's bytes by its location (relative to the model);
 * every widened tensor is inline, so the result must stay under protobuf's 2 GB: the page's edge.
 */
export async function upcastModelBytes(
  bytes: Uint8Array, source: string, fetchFile: (location: string) => Promise<Uint8Array>,
): Promise<Uint8Array | undefined> {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DiffusionError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  if (!hasFloat16(model)) return undefined;
  const refs = (model.graph?.initializer ?? []).filter((t) => t.dataType === FLOAT16 && isExternal(t)).map(externalRefFromProto);
  const files = new Map<string, Uint8Array>();
  for (const loc of new Set(refs.map((r) => r.location))) files.set(loc, await fetchFile(loc));
  upcastFloat16(model, {
    readExternal(p) {
      const ref = externalRefFromProto(p);
      const file = files.get(ref.location)!;
      const { offset, length } = checkSpan(ref, file.byteLength);
      return file.subarray(offset, offset + length);
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The same widening on the IR, for training: `train --init` a float16 UNet trains its float32
 * copy (the optimizer's moments and updates need float32), and a LoRA adapter is merged into the
 * float32 copy. Returns `model` itself when it has no float16; tensors are otherwise new.
 */
export function upcastModel(model: Model): Model {
  let changed = false;
  const widenT = (t: Tensor): Tensor => {
    changed = true;
    return new Tensor('float32', [...t.dims], widenHalfBits(t.data as Uint16Array));
  };
  const f32 = <V extends { dtype: DType }>(v: V): V => (v.dtype === 'float16' ? ((changed = true), { ...v, dtype: 'float32' }) : v);
  const graph = (g0: Graph): Graph => {
    const g = g0.clone();
    g.inputs = g.inputs.map(f32);
    g.outputs = g.outputs.map(f32);
    g.valueInfo = new Map([...g.valueInfo].map(([k, v]) => [k, f32(v)]));
    for (const [name, t] of g.initializers) if (t.dtype === 'float16') g.initializers.set(name, widenT(t));
    g.nodes = g.nodes.map((n) => {
      const attrs: Node['attrs'] = {};
      for (const [k, a] of Object.entries(n.attrs)) {
        const typeAttr = n.domain === '' && ((n.opType === 'Cast' && k === 'to') || (DTYPE_ATTR_OPS.has(n.opType) && k === 'dtype'));
        if (typeAttr && a.type === 'int' && a.value === FLOAT16) {
          changed = true;
          attrs[k] = { type: 'int', value: FLOAT };
        } else if (a.type === 'tensor' && a.value.dtype === 'float16') attrs[k] = { type: 'tensor', value: widenT(a.value) };
        else if (a.type === 'tensors') attrs[k] = { type: 'tensors', value: a.value.map((t) => (t.dtype === 'float16' ? widenT(t) : t)) };
        else if (a.type === 'graph') attrs[k] = { type: 'graph', value: graph(a.value) };
        else if (a.type === 'graphs') attrs[k] = { type: 'graphs', value: a.value.map(graph) };
        else attrs[k] = a;
      }
      return { ...n, attrs };
    });
    return g;
  };
  const g = graph(model.graph);
  return changed ? { ...model, graph: g } : model;
}

/** float16 bits -> float32 values. */
function widenHalfBits(bits: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}
