import { DiffusionError } from '../core/errors';
import { attrInt, attrInts, attrString } from './ir';
import { broadcastShapes, dimOp, InferContext, InferRule, Known, knownFromTensor, need } from './known';
import { Dim, dtypeFromOnnx, DType, Shape } from './tensor';
import { conv, convTranspose, gemm, matmul, pool } from './infer-linalg';

/** Per-op shape (and small integer data) inference, opset 17 semantics. */

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** Integer contents of a constant input (axes, pads, shapes...). */
function ints(ctx: InferContext, i: number): number[] | undefined {
  const d = ctx.inputs[i]?.data;
  if (!d || d.some((x) => typeof x !== 'number')) return undefined;
  return d as number[];
}

const same: InferRule = (ctx) => [{ dtype: need(ctx, 0).dtype, shape: need(ctx, 0).shape }];

function elementwise(outDtype?: DType, fold?: (a: number, b: number) => number, sym?: '+' | '-' | '*' | '/'): InferRule {
  return (ctx) => {
    const ins = ctx.node.inputs.map((_, i) => need(ctx, i));
    const shapes = ins.map((k) => k.shape);
    const dtype = outDtype ?? (ctx.node.opType === 'Where' ? ins[1].dtype : ins[0].dtype);
    const out: Known = { dtype };
    if (shapes.every((s) => s)) out.shape = broadcastShapes(shapes as Shape[], `${ctx.node.opType} node '${ctx.node.name}'`);
    // Shape arithmetic: fold integer data elementwise (symbolic dims stay symbolic).
    if (fold && sym && ins.length === 2 && ins[0].data && ins[1].data) {
      const [a, b] = [ins[0].data, ins[1].data];
      const n = Math.max(a.length, b.length);
      if ((a.length === 1 || a.length === n) && (b.length === 1 || b.length === n)) {
        out.data = Array.from({ length: n }, (_, i) => dimOp(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i], sym, fold));
      }
    }
    return [out];
  };
}

/** Reshape target with 0 (copy) and -1 (infer) resolved, symbolic dims allowed. */
function reshapeTarget(x: Shape, target: Dim[], allowzero: boolean, fresh: () => string): Shape {
  const out = target.map((d, i) => (d === 0 && !allowzero ? x[i] : d));
  const minus = out.indexOf(-1);
  if (minus >= 0) {
    const known = out.filter((_, i) => i !== minus);
    const total = x.reduce<Dim>((p, d) => dimOp(p, d, '*', (a, b) => a * b), 1);
    const part = known.reduce<Dim>((p, d) => dimOp(p, d, '*', (a, b) => a * b), 1);
    let rest: Dim = dimOp(total, part, '/', (a, b) => a / b);
    // Cancel a shared symbolic factor such as N in (N*64)/(N*2) by recomputing over numbers only.
    if (typeof rest === 'string') {
      const xs = x.filter((d) => !known.includes(d) || typeof d === 'number');
      const syms = known.filter((d) => typeof d === 'string');
      const xsym = x.filter((d) => typeof d === 'string');
      if (syms.length === xsym.length && syms.every((s) => xsym.includes(s))) {
        const nx = x.filter((d) => typeof d === 'number').reduce<number>((p, d) => p * (d as number), 1);
        const nk = known.filter((d) => typeof d === 'number').reduce<number>((p, d) => p * (d as number), 1);
        rest = nx / nk;
      } else if (xs.length === 0) rest = fresh();
    }
    out[minus] = typeof rest === 'number' && !Number.isInteger(rest) ? fresh() : rest;
  }
  return out;
}

const reshape: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const target = need(ctx, 1).data;
  const out: Known = { dtype: x.dtype };
  if (target && x.shape) out.shape = reshapeTarget(x.shape, target, attrInt(ctx.node, 'allowzero', 0) === 1, ctx.fresh);
  else if (target && !target.includes(0) && !target.includes(-1)) out.shape = [...target];
  else if (need(ctx, 1).shape && typeof need(ctx, 1).shape![0] === 'number') {
    out.shape = Array.from({ length: need(ctx, 1).shape![0] as number }, () => ctx.fresh());
  }
  if (x.data && out.shape) out.data = x.data;
  return [out];
};

const flatten: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const axis = norm(attrInt(ctx.node, 'axis', 1), x.shape.length);
  const prod = (s: Shape) => s.reduce<Dim>((p, d) => dimOp(p, d, '*', (a, b) => a * b), 1);
  return [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))] }];
};

const transpose: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const perm = attrInts(ctx.node, 'perm') ?? x.shape.map((_, i) => x.shape!.length - 1 - i);
  return [{ dtype: x.dtype, shape: perm.map((p) => x.shape![p]) }];
};

const concat: InferRule = (ctx) => {
  const ins = ctx.node.inputs.map((_, i) => need(ctx, i));
  const out: Known = { dtype: ins[0].dtype };
  if (ins.every((k) => k.shape)) {
    const rank = ins[0].shape!.length;
    const axis = norm(attrInt(ctx.node, 'axis'), rank);
    const shape = [...ins[0].shape!];
    shape[axis] = ins.slice(1).reduce<Dim>((p, k) => dimOp(p, k.shape![axis], '+', (a, b) => a + b), shape[axis]);
    out.shape = shape;
  }
  if (ins.every((k) => k.data)) out.data = ins.flatMap((k) => k.data!);
  return [out];
};

const split: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const n = ctx.node.outputs.length;
  if (!x.shape) return ctx.node.outputs.map(() => ({ dtype: x.dtype }));
  const axis = norm(attrInt(ctx.node, 'axis', 0), x.shape.length);
  let sizes: Dim[] | undefined = ctx.node.inputs[1] ? ints(ctx, 1) : undefined;
  if (!sizes) {
    const d = x.shape[axis];
    sizes = Array(n).fill(typeof d === 'number' ? Math.ceil(d / n) : `(${d}/${n})`);
    if (typeof d === 'number') sizes[n - 1] = d - (Math.ceil(d / n) * (n - 1));
  }
  return sizes.map((s) => {
    const shape = [...x.shape!];
    shape[axis] = s;
    return { dtype: x.dtype, shape };
  });
};

function sliceDim(d: Dim, start: number, end: number, step: number): Dim {
  if (typeof d !== 'number') return start === 0 && end >= 2 ** 31 && step === 1 ? d : `(${d}[${start}:${end}:${step}])`;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = clamp(s, 0, d);
    e = clamp(e, 0, d);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, d - 1);
  e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

const slice: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const starts = ints(ctx, 1);
  const ends = need(ctx, 2).data as number[] | undefined;
  const rank = x.shape?.length ?? (x.data ? 1 : undefined);
  if (!starts || !ends || rank === undefined) return [{ dtype: x.dtype, shape: x.shape?.map(() => ctx.fresh()) }];
  const axes = (ctx.node.inputs[3] ? ints(ctx, 3) : undefined) ?? starts.map((_, i) => i);
  const steps = (ctx.node.inputs[4] ? ints(ctx, 4) : undefined) ?? starts.map(() => 1);
  const out: Known = { dtype: x.dtype };
  if (x.shape) {
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      const ax = norm(a, shape.length);
      shape[ax] = sliceDim(x.shape![ax], starts[i], Number(ends[i]), steps[i]);
    });
    out.shape = shape;
  }
  if (x.data && axes.length === 1 && steps[0] === 1) {
    const len = x.data.length;
    const s = Math.max(0, starts[0] < 0 ? starts[0] + len : Math.min(starts[0], len));
    const e = Math.max(0, Number(ends[0]) < 0 ? Number(ends[0]) + len : Math.min(Number(ends[0]), len));
    out.data = x.data.slice(s, e);
  }
  return [out];
};

function axesOf(ctx: InferContext, attrName = 'axes'): number[] | undefined {
  return ctx.node.inputs[1] ? ints(ctx, 1) : attrInts(ctx.node, attrName);
}

const squeeze: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const out: Known = { dtype: x.dtype, data: x.data };
  if (x.shape) {
    const axes = axesOf(ctx)?.map((a) => norm(a, x.shape!.length)) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    out.shape = x.shape.filter((_, i) => !axes.includes(i));
  }
  return [out];
};

const unsqueeze: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const axes = axesOf(ctx);
  const out: Known = { dtype: x.dtype, data: x.data };
  if (x.shape && axes) {
    const rank = x.shape.length + axes.length;
    const ax = axes.map((a) => norm(a, rank));
    const shape: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) shape.push(ax.includes(i) ? 1 : x.shape[k++]);
    out.shape = shape;
  }
  return [out];
};

const expand: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const target = need(ctx, 1).data;
  if (!x.shape || !target) return [{ dtype: x.dtype }];
  return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, target], `Expand node '${ctx.node.name}'`) }];
};

const reduce: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  // ReduceSum takes axes as an input from opset 13; the others still as an attribute in opset 17.
  let axes = ctx.node.opType === 'ReduceSum' ? (ctx.node.inputs[1] ? ints(ctx, 1) : []) : attrInts(ctx.node, 'axes', []);
  if (!axes) return [{ dtype: x.dtype, shape: keep ? x.shape.map(() => ctx.fresh()) : undefined }];
  if (axes.length === 0) {
    if (ctx.node.opType === 'ReduceSum' && attrInt(ctx.node, 'noop_with_empty_axes', 0) === 1) return [{ dtype: x.dtype, shape: x.shape }];
    axes = x.shape.map((_, i) => i);
  }
  const ax = axes.map((a) => norm(a, x.shape!.length));
  const shape = keep ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return [{ dtype: x.dtype, shape }];
};

const gather: InferRule = (ctx) => {
  const [x, idx] = [need(ctx, 0), need(ctx, 1)];
  const out: Known = { dtype: x.dtype };
  const axis = attrInt(ctx.node, 'axis', 0);
  if (x.shape && idx.shape) {
    const a = norm(axis, x.shape.length);
    out.shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  }
  const i = ints(ctx, 1);
  if (x.data && i && axis === 0) {
    const picked = i.map((k) => x.data![k < 0 ? k + x.data!.length : k]);
    out.data = picked;
  }
  return [out];
};

const resize: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const sizes = ctx.node.inputs[3] ? ints(ctx, 3) : undefined;
  if (sizes) return [{ dtype: x.dtype, shape: sizes }];
  const scales = ctx.inputs[2]?.tensor?.toNumbers();
  if (!scales) return [{ dtype: x.dtype, shape: x.shape.map(() => ctx.fresh()) }];
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => dimOp(d, scales[i], '*', (a, b) => Math.floor(a * b))) }];
};

const pad: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const pads = ints(ctx, 1);
  if (!x.shape || !pads) return [{ dtype: x.dtype, shape: x.shape?.map(() => ctx.fresh()) }];
  const r = x.shape.length;
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => dimOp(d, pads[i] + pads[i + r], '+', (a, b) => a + b)) }];
};

const shapeOp: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: 'int64', shape: [ctx.fresh()] }];
  const r = x.shape.length;
  const start = norm(attrInt(ctx.node, 'start', 0), r);
  const endAttr = ctx.node.attrs.end ? norm(attrInt(ctx.node, 'end'), r) : r;
  const data = x.shape.slice(start, endAttr);
  return [{ dtype: 'int64', shape: [data.length], data }];
};

const constant: InferRule = (ctx) => {
  const a = ctx.node.attrs;
  if (a.value?.type === 'tensor') return [knownFromTensor(a.value.value)];
  if (a.value_int?.type === 'int') return [{ dtype: 'int64', shape: [], data: [a.value_int.value] }];
  if (a.value_ints?.type === 'ints') return [{ dtype: 'int64', shape: [a.value_ints.value.length], data: a.value_ints.value }];
  if (a.value_float?.type === 'float') return [{ dtype: 'float32', shape: [] }];
  if (a.value_floats?.type === 'floats') return [{ dtype: 'float32', shape: [a.value_floats.value.length] }];
  throw new DiffusionError(`Constant node '${ctx.node.name}': unsupported value attribute`);
};

const constantOfShape: InferRule = (ctx) => {
  const v = ctx.node.attrs.value;
  const dtype: DType = v?.type === 'tensor' ? v.value.dtype : 'float32';
  const s = need(ctx, 0).data;
  return [{ dtype, shape: s ? [...s] : undefined }];
};

const cast: InferRule = (ctx) => {
  const x = need(ctx, 0);
  return [{ dtype: dtypeFromOnnx(attrInt(ctx.node, 'to')), shape: x.shape, data: x.data }];
};

const layerNorm: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const outs: Known[] = [{ dtype: x.dtype, shape: x.shape }];
  if (ctx.node.outputs.length > 1 && x.shape) {
    const axis = norm(attrInt(ctx.node, 'axis', -1), x.shape.length);
    const s = x.shape.map((d, i) => (i >= axis ? 1 : d));
    outs.push({ dtype: 'float32', shape: s }, { dtype: 'float32', shape: s });
  }
  return outs.slice(0, ctx.node.outputs.length);
};

const range: InferRule = (ctx) => {
  const [s, l, d] = [ints(ctx, 0), ints(ctx, 1), ints(ctx, 2)];
  const dtype = need(ctx, 0).dtype;
  if (s && l && d) return [{ dtype, shape: [Math.max(0, Math.ceil((l[0] - s[0]) / d[0]))] }];
  return [{ dtype, shape: [ctx.fresh()] }];
};

const einsum: InferRule = (ctx) => {
  const eq = attrString(ctx.node, 'equation', '').replace(/\s/g, '');
  const [lhs, rhs] = eq.split('->');
  const terms = lhs.split(',');
  const ins = terms.map((_, i) => need(ctx, i));
  if (rhs === undefined || eq.includes('...') || ins.some((k) => !k.shape)) return [{ dtype: ins[0].dtype }];
  const dims = new Map<string, Dim>();
  terms.forEach((t, i) => [...t].forEach((c, j) => {
    const d = ins[i].shape![j];
    if (!dims.has(c) || dims.get(c) === 1) dims.set(c, d);
  }));
  return [{ dtype: ins[0].dtype, shape: [...rhs].map((c) => dims.get(c)!) }];
};

const loop: InferRule = (ctx) => {
  const body = ctx.node.attrs.body;
  if (body?.type !== 'graph') throw new DiffusionError(`Loop node '${ctx.node.name}': missing body`);
  const nCarried = ctx.node.inputs.length - 2;
  return ctx.node.outputs.map((_, k) => {
    if (k < nCarried) return { dtype: need(ctx, k + 2).dtype, shape: need(ctx, k + 2).shape };
    const o = body.value.outputs[k + 1];
    return { dtype: o.dtype, shape: o.shape ? [ctx.fresh(), ...o.shape] : undefined };
  });
};

const boolOut = elementwise('bool');
const fold = {
  Add: elementwise(undefined, (a, b) => a + b, '+'),
  Sub: elementwise(undefined, (a, b) => a - b, '-'),
  Mul: elementwise(undefined, (a, b) => a * b, '*'),
  Div: elementwise(undefined, (a, b) => Math.trunc(a / b), '/'),
};

export const OP_RULES: Record<string, InferRule> = {
  ...fold,
  Pow: elementwise(),
  Min: elementwise(),
  Max: elementwise(),
  Sum: elementwise(),
  Mean: elementwise(),
  Where: elementwise(),
  Equal: boolOut,
  Less: boolOut,
  Greater: boolOut,
  And: boolOut,
  Or: boolOut,
  Not: same,
  Identity: (ctx) => [{ ...need(ctx, 0) }],
  ...Object.fromEntries(
    ['Neg', 'Sqrt', 'Exp', 'Log', 'Sin', 'Cos', 'Sigmoid', 'Tanh', 'Erf', 'Relu', 'LeakyRelu', 'Abs', 'Reciprocal',
      'Softmax', 'LogSoftmax', 'Clip', 'InstanceNormalization', 'HardSigmoid', 'Softplus', 'Elu', 'Floor', 'Ceil', 'Round', 'Sign', 'Mish']
      .map((op) => [op, same]),
  ),
  Dropout: (ctx) => {
    const x = need(ctx, 0);
    return [{ dtype: x.dtype, shape: x.shape }, { dtype: 'bool' as DType, shape: x.shape }].slice(0, ctx.node.outputs.length);
  },
  Cast: cast,
  Conv: conv,
  ConvTranspose: convTranspose,
  AveragePool: pool,
  MaxPool: pool,
  GlobalAveragePool: (ctx) => {
    const x = need(ctx, 0);
    return [{ dtype: x.dtype, shape: x.shape?.map((d, i) => (i < 2 ? d : 1)) }];
  },
  MatMul: matmul,
  Gemm: gemm,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceSumSquare: reduce,
  Gather: gather,
  Resize: resize,
  Pad: pad,
  Shape: shapeOp,
  Size: () => [{ dtype: 'int64', shape: [] }],
  Constant: constant,
  ConstantOfShape: constantOfShape,
  LayerNormalization: layerNorm,
  Range: range,
  Einsum: einsum,
  Loop: loop,
  NonZero: (ctx) => [{ dtype: 'int64', shape: need(ctx, 0).shape ? [need(ctx, 0).shape!.length, ctx.fresh()] : undefined }],
  ScatterND: same,
  ScatterElements: same,
  Tile: (ctx) => {
    const x = need(ctx, 0);
    const reps = ints(ctx, 1);
    if (!x.shape || !reps) return [{ dtype: x.dtype }];
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => dimOp(d, reps[i], '*', (a, b) => a * b)) }];
  },
};
