/**
 * Constant folding of shape and value subgraphs, so that a foreign export (torch.onnx.export of a
 * diffusers UNet) becomes a graph of static shapes that autodiff can differentiate: the chains
 * `Shape -> Gather -> Unsqueeze -> Concat -> Reshape`, the timestep's
 * `expand(sample.shape[0])` (ConstantOfShape, Equal, Where, Expand), `F.pad`'s pads, ... are
 * evaluated here, on the host, and replaced by Constant nodes.
 *
 * A node folds when every input it reads is a constant (a Constant node, a non-float initializer,
 * or a value folded before it) or when it is a Shape of a value whose shape inference has made
 * static. Float initializers are the model's weights and never fold. Semantics follow the ONNX
 * operator specs (ONNX's operator documentation, opsets 11-17); float32 arithmetic is rounded to float32
 * after each op, as ONNX Runtime computes it. Each op is checked against ONNX Runtime on the
 * unfolded graph (test/onnx/fold.test.ts).
 */
import { DiffusionError } from '../core/errors';
import { eliminateDeadNodes, subgraphReads } from './dead-nodes';
import { attrInt, attrInts, Graph, Node } from './ir';
import { inferNode, Known, knownFromTensor } from './infer';
import { DType, numElements, Tensor } from './tensor';

/** A small tensor being folded: dims and elements as numbers (int64 shape values fit exactly). */
interface Val {
  dtype: DType;
  dims: number[];
  v: number[];
}

/** Folded values above this many elements stay computed in the graph (a constant that size is no shape). */
const MAX_FOLD_ELEMENTS = 1 << 16;

const INT_DTYPES = new Set<DType>(['int64', 'int32', 'int8', 'uint8']);

/** Thrown by an evaluator whose result would pass MAX_FOLD_ELEMENTS: the node stays computed. */
class TooLarge extends Error {}

/** Checks a result's size before it is built (an attention bias of ConstantOfShape can be 10^8 elements). */
function sized(dims: number[]): number[] {
  if (numElements(dims) > MAX_FOLD_ELEMENTS) throw new TooLarge();
  return dims;
}

function fromTensor(t: Tensor): Val {
  return { dtype: t.dtype, dims: [...t.dims], v: t.toNumbers() };
}

const INT64_MAX = 2n ** 63n - 1n;

function toTensor(x: Val): Tensor {
  // INT64_MAX (a Slice's "to the end") is 2^63 as a double: clamp it back instead of wrapping.
  if (x.dtype === 'int64') return Tensor.from('int64', x.dims, x.v.map((v) => (v >= 2 ** 63 ? INT64_MAX : v <= -(2 ** 63) ? -INT64_MAX - 1n : BigInt(v))));
  return Tensor.from(x.dtype, x.dims, x.v);
}

/** Rounds a result to its dtype: float32 to float32, integers toward zero, bool to 0/1. */
function round(dtype: DType, x: number): number {
  if (dtype === 'float32') return Math.fround(x);
  if (dtype === 'bool') return x ? 1 : 0;
  if (INT_DTYPES.has(dtype)) return Math.trunc(x);
  return x;
}

function strides(dims: number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

function broadcastDims(all: number[][], where: string): number[] {
  const rank = Math.max(...all.map((d) => d.length));
  return Array.from({ length: rank }, (_, i) => {
    let d = 1;
    for (const dims of all) {
      const e = dims[dims.length - rank + i] ?? 1;
      if (e !== 1) {
        if (d !== 1 && d !== e) throw new DiffusionError(`${where}: dims [${all.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
        d = e;
      }
    }
    return d;
  });
}

/** Elements of `x` read at every index of the broadcast shape `out`. */
function broadcastTo(x: Val, out: number[]): number[] {
  const n = numElements(out);
  if (x.v.length === n && x.dims.length === out.length) return x.v;
  const os = strides(out);
  const pad = out.length - x.dims.length;
  const xs = strides(x.dims);
  const res = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let a = pad; a < out.length; a++) {
      const idx = Math.floor(i / os[a]) % out[a];
      if (x.dims[a - pad] !== 1) off += idx * xs[a - pad];
    }
    res[i] = x.v[off];
  }
  return res;
}

function elementwise(ins: Val[], dtype: DType, f: (...a: number[]) => number, where: string): Val {
  const dims = sized(broadcastDims(ins.map((x) => x.dims), where));
  const cols = ins.map((x) => broadcastTo(x, dims));
  const v = cols[0].map((_, i) => round(dtype, f(...cols.map((c) => c[i]))));
  return { dtype, dims, v };
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

function gather(x: Val, idx: Val, axis: number): Val {
  const a = norm(axis, x.dims.length);
  const outer = numElements(x.dims.slice(0, a));
  const inner = numElements(x.dims.slice(a + 1));
  const n = x.dims[a];
  const v: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const i0 of idx.v) {
      const i = i0 < 0 ? i0 + n : i0;
      if (i < 0 || i >= n) throw new DiffusionError(`Gather index ${i0} out of range for dim ${n}`);
      for (let k = 0; k < inner; k++) v.push(x.v[(o * n + i) * inner + k]);
    }
  }
  return { dtype: x.dtype, dims: [...x.dims.slice(0, a), ...idx.dims, ...x.dims.slice(a + 1)], v };
}

function concat(ins: Val[], axis: number): Val {
  const a = norm(axis, ins[0].dims.length);
  const outer = numElements(ins[0].dims.slice(0, a));
  const v: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const x of ins) {
      const block = numElements(x.dims.slice(a));
      for (let k = 0; k < block; k++) v.push(x.v[o * block + k]);
    }
  }
  const dims = [...ins[0].dims];
  dims[a] = ins.reduce((s, x) => s + x.dims[a], 0);
  return { dtype: ins[0].dtype, dims, v };
}

function slice(x: Val, starts: number[], ends: number[], axesIn?: number[], stepsIn?: number[]): Val {
  const rank = x.dims.length;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => norm(a, rank));
  const ranges = x.dims.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((a, k) => {
    const d = x.dims[a];
    const step = stepsIn?.[k] ?? 1;
    let s = starts[k] < 0 ? starts[k] + d : starts[k];
    let e = ends[k] < 0 ? ends[k] + d : ends[k];
    if (step > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
    } else {
      s = clamp(s, 0, d - 1);
      e = clamp(e, -1, d - 1);
    }
    ranges[a] = { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
  });
  const dims = ranges.map((r) => r.count);
  const xs = strides(x.dims);
  const os = strides(dims);
  const v = Array.from({ length: numElements(dims) }, (_, i) => {
    let off = 0;
    for (let a = 0; a < rank; a++) off += (ranges[a].start + (Math.floor(i / os[a]) % dims[a]) * ranges[a].step) * xs[a];
    return x.v[off];
  });
  return { dtype: x.dtype, dims, v };
}

function transpose(x: Val, perm: number[]): Val {
  const dims = perm.map((p) => x.dims[p]);
  const xs = strides(x.dims);
  const os = strides(dims);
  const v = Array.from({ length: numElements(dims) }, (_, i) => {
    let off = 0;
    for (let a = 0; a < dims.length; a++) off += (Math.floor(i / os[a]) % dims[a]) * xs[perm[a]];
    return x.v[off];
  });
  return { dtype: x.dtype, dims, v };
}

function reshapeDims(x: Val, target: number[], allowzero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowzero ? x.dims[i] : d));
  const minus = out.indexOf(-1);
  if (minus >= 0) out[minus] = x.v.length / numElements(out.filter((_, i) => i !== minus));
  return out;
}

/** The value of a Constant node (its one attribute). */
export function constantValue(node: Node): Tensor | undefined {
  const [key, a] = Object.entries(node.attrs)[0] ?? [];
  if (!a) return undefined;
  if (a.type === 'tensor') return a.value;
  if (key === 'value_float' && a.type === 'float') return Tensor.scalar(a.value);
  if (key === 'value_floats' && a.type === 'floats') return Tensor.float32([a.value.length], a.value);
  if (key === 'value_int' && a.type === 'int') return Tensor.int64([], [a.value]);
  if (key === 'value_ints' && a.type === 'ints') return Tensor.int64([a.value.length], a.value);
  return undefined;
}

const DTYPE_OF_CODE: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' };

type Evaluator = (ins: (Val | undefined)[], node: Node) => Val[];

const arith = (f: (a: number, b: number) => number): Evaluator => (ins, node) => {
  const dtype = ins[0]!.dtype;
  // Integer Div truncates toward zero, as C++ (and ONNX Runtime) does.
  return [elementwise([ins[0]!, ins[1]!], dtype, f, `${node.opType} node '${node.name}'`)];
};
const compare = (f: (a: number, b: number) => boolean): Evaluator => (ins, node) =>
  [elementwise([ins[0]!, ins[1]!], 'bool', (a, b) => (f(a, b) ? 1 : 0), `${node.opType} node '${node.name}'`)];
const unary = (f: (a: number) => number): Evaluator => (ins) => {
  const x = ins[0]!;
  return [{ dtype: x.dtype, dims: x.dims, v: x.v.map((a) => round(x.dtype, f(a))) }];
};
const variadic = (f: (a: number, b: number) => number): Evaluator => (ins, node) => {
  let acc = ins[0]!;
  for (const x of ins.slice(1)) acc = elementwise([acc, x!], acc.dtype, f, `${node.opType} node '${node.name}'`);
  return [acc];
};
/** Axes from the second input (opset >= 13) or the attribute (older). */
const axesOf = (ins: (Val | undefined)[], node: Node): number[] | undefined => ins[1]?.v ?? attrInts(node, 'axes');

/** Per-op evaluation over constant inputs: shape arithmetic and the small value subgraphs exports carry. */
const EVAL: Record<string, Evaluator> = {
  Identity: (ins) => [ins[0]!],
  Shape: (ins, node) => {
    const d = ins[0]!.dims;
    const r = d.length;
    const start = clamp(norm(attrInt(node, 'start', 0), r), 0, r);
    const end = clamp(node.attrs.end ? norm(attrInt(node, 'end'), r) : r, 0, r);
    const v = d.slice(start, Math.max(start, end));
    return [{ dtype: 'int64', dims: [v.length], v }];
  },
  Size: (ins) => [{ dtype: 'int64', dims: [], v: [ins[0]!.v.length] }],
  Gather: (ins, node) => [gather(ins[0]!, ins[1]!, attrInt(node, 'axis', 0))],
  Concat: (ins, node) => [concat(ins.map((x) => x!), attrInt(node, 'axis'))],
  Unsqueeze: (ins, node) => {
    const x = ins[0]!;
    const axes = axesOf(ins, node)!;
    const rank = x.dims.length + axes.length;
    const ax = axes.map((a) => norm(a, rank));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) dims.push(ax.includes(i) ? 1 : x.dims[k++]);
    return [{ ...x, dims }];
  },
  Squeeze: (ins, node) => {
    const x = ins[0]!;
    const axes = axesOf(ins, node)?.map((a) => norm(a, x.dims.length)) ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
    return [{ ...x, dims: x.dims.filter((_, i) => !axes.includes(i)) }];
  },
  Reshape: (ins, node) => [{ ...ins[0]!, dims: reshapeDims(ins[0]!, ins[1]!.v, attrInt(node, 'allowzero', 0) === 1) }],
  Flatten: (ins, node) => {
    const x = ins[0]!;
    const a = norm(attrInt(node, 'axis', 1), x.dims.length);
    return [{ ...x, dims: [numElements(x.dims.slice(0, a)), numElements(x.dims.slice(a))] }];
  },
  Transpose: (ins, node) => [transpose(ins[0]!, attrInts(node, 'perm') ?? ins[0]!.dims.map((_, i) => ins[0]!.dims.length - 1 - i))],
  Slice: (ins) => [slice(ins[0]!, ins[1]!.v, ins[2]!.v, ins[3]?.v, ins[4]?.v)],
  Expand: (ins, node) => {
    const x = ins[0]!;
    const dims = sized(broadcastDims([x.dims, ins[1]!.v], `Expand node '${node.name}'`));
    return [{ dtype: x.dtype, dims, v: broadcastTo(x, dims) }];
  },
  ConstantOfShape: (ins, node) => {
    const a = node.attrs.value;
    const fill = a?.type === 'tensor' ? fromTensor(a.value) : { dtype: 'float32' as DType, dims: [1], v: [0] };
    const dims = sized(ins[0]!.v);
    return [{ dtype: fill.dtype, dims, v: new Array<number>(numElements(dims)).fill(fill.v[0]) }];
  },
  Range: (ins) => {
    const [start, limit, delta] = ins.map((x) => x!.v[0]);
    const n = sized([Math.max(Math.ceil((limit - start) / delta), 0)])[0];
    const dtype = ins[0]!.dtype;
    return [{ dtype, dims: [n], v: Array.from({ length: n }, (_, i) => round(dtype, start + i * delta)) }];
  },
  Cast: (ins, node) => {
    const to = DTYPE_OF_CODE[attrInt(node, 'to')];
    if (!to) throw new DiffusionError(`Cast node '${node.name}': unsupported target type ${attrInt(node, 'to')}`);
    return [{ dtype: to, dims: ins[0]!.dims, v: ins[0]!.v.map((a) => round(to, a)) }];
  },
  Where: (ins, node) => [elementwise([ins[0]!, ins[1]!, ins[2]!], ins[1]!.dtype, (c, a, b) => (c ? a : b), `Where node '${node.name}'`)],
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  LessOrEqual: compare((a, b) => a <= b),
  Greater: compare((a, b) => a > b),
  GreaterOrEqual: compare((a, b) => a >= b),
  And: compare((a, b) => !!a && !!b),
  Or: compare((a, b) => !!a || !!b),
  Not: (ins) => [{ dtype: 'bool', dims: ins[0]!.dims, v: ins[0]!.v.map((a) => (a ? 0 : 1)) }],
  Add: arith((a, b) => a + b),
  Sub: arith((a, b) => a - b),
  Mul: arith((a, b) => a * b),
  Div: arith((a, b) => a / b),
  Pow: arith((a, b) => a ** b),
  Max: variadic(Math.max),
  Min: variadic(Math.min),
  Neg: unary((a) => -a),
  Abs: unary(Math.abs),
  Sqrt: unary(Math.sqrt),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Sin: unary(Math.sin),
  Cos: unary(Math.cos),
  Reciprocal: unary((a) => 1 / a),
};

/** The op types this pass can evaluate. */
export const FOLDABLE_OPS: readonly string[] = Object.keys(EVAL);

export interface FoldStats {
  /** Nodes replaced by a Constant. */
  folded: number;
  /** Nodes removed because nothing reads their outputs any more. */
  removed: number;
}

/**
 * Folds, in place, every node of `graph` whose result is a constant (see the file comment), then
 * removes the nodes nothing reads any more. Shapes come from inference over the graph's declared
 * input shapes: pin symbolic dims first (pin-dims.ts) to fold what depends on them.
 */
export function foldConstants(graph: Graph): FoldStats {
  const consts = new Map<string, Val>();
  const known = new Map<string, Known>();
  for (const [name, t] of graph.initializers) {
    known.set(name, knownFromTensor(t));
    if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'float64' && t.size <= MAX_FOLD_ELEMENTS) consts.set(name, fromTensor(t));
  }
  for (const i of graph.inputs) if (!known.has(i.name)) known.set(i.name, { dtype: i.dtype, shape: i.shape });
  let counter = 0;
  const fresh = () => `?fold${counter++}`;
  let folded = 0;
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => (i ? consts.get(i) : undefined));
    const x0 = known.get(node.inputs[0]);
    const staticShape = node.opType === 'Shape' && x0?.shape?.every((d) => typeof d === 'number');
    let outs: Val[] | undefined;
    if (node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx')) {
      const t = constantValue(node);
      if (t && t.size <= MAX_FOLD_ELEMENTS) outs = [fromTensor(t)];
      if (outs) {
        consts.set(node.outputs[0], outs[0]);
        known.set(node.outputs[0], knownFromTensor(t!));
      }
      nodes.push(node);
      continue;
    }
    const evaluator = !node.domain || node.domain === 'ai.onnx' ? EVAL[node.opType] : undefined;
    try {
      if (evaluator && staticShape) {
        outs = evaluator([{ dtype: x0!.dtype, dims: x0!.shape as number[], v: [] }], node);
      } else if (evaluator && node.inputs.length > 0 && node.inputs.every((i, k) => !i || ins[k])) {
        outs = evaluator(ins, node);
      }
    } catch (e) {
      if (!(e instanceof TooLarge)) throw e;
    }
    if (outs && outs.every((o) => o.v.length <= MAX_FOLD_ELEMENTS) && outs.length === node.outputs.length) {
      outs.forEach((o, k) => {
        const t = toTensor(o);
        consts.set(node.outputs[k], o);
        known.set(node.outputs[k], knownFromTensor(t));
        const name = `${node.name || node.outputs[k]}/folded`;
        nodes.push({ name, opType: 'Constant', domain: '', inputs: [], outputs: [node.outputs[k]], attrs: { value: { type: 'tensor', value: t } } });
      });
      folded++;
      continue;
    }
    const facts = inferNode(node, node.inputs.map((i) => (i ? known.get(i) : undefined)), fresh);
    node.outputs.forEach((o, k) => o && facts[k] && known.set(o, facts[k]));
    nodes.push(node);
  }
  graph.nodes = nodes;
  const removed = eliminateDeadNodes(graph);
  // Integer initializers only the folded shape arithmetic read (weights stay, read or not).
  const read = new Set([...graph.nodes.flatMap((n) => n.inputs), ...graph.outputs.map((o) => o.name), ...subgraphReads(graph)]);
  for (const name of [...graph.initializers.keys()]) if (!read.has(name) && consts.has(name)) graph.initializers.delete(name);
  // Inferred facts of the old graph may be stale; the Builder infers afresh.
  graph.valueInfo = new Map([...graph.valueInfo].filter(([name]) => !consts.has(name)));
  return { folded, removed };
}
