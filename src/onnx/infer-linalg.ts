/** Shape inference for convolution, pooling and matrix products (opset 17 semantics). */
import { attrInt, attrInts, attrString, Node } from './ir';
import { broadcastShapes, dimOp, InferRule, Known, need } from './known';
import { Dim, Shape } from './tensor';

function poolOut(input: Dim, k: number, s: number, p0: number, p1: number, d: number, ceil: boolean): Dim {
  if (typeof input !== 'number') return `(${input}/${s})`;
  const span = input + p0 + p1 - d * (k - 1) - 1;
  return (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
}

/** Conv-like spatial output sizes, incl. auto_pad. */
function spatial(node: Node, x: Shape, kernel: number[]): Dim[] {
  const nd = kernel.length;
  const strides = attrInts(node, 'strides', Array(nd).fill(1))!;
  const dil = attrInts(node, 'dilations', Array(nd).fill(1))!;
  const pads = attrInts(node, 'pads', Array(2 * nd).fill(0))!;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  return kernel.map((k, i) => {
    const input = x[2 + i];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      return typeof input === 'number' ? Math.ceil(input / strides[i]) : `(${input}/${strides[i]})`;
    }
    if (autoPad === 'VALID') return poolOut(input, k, strides[i], 0, 0, dil[i], ceil);
    return poolOut(input, k, strides[i], pads[i], pads[i + nd], dil[i], ceil);
  });
}

export const conv: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const w = need(ctx, 1);
  if (!x.shape || !w.shape) return [{ dtype: x.dtype }];
  const kernel = (attrInts(ctx.node, 'kernel_shape') ?? w.shape.slice(2)) as number[];
  return [{ dtype: x.dtype, shape: [x.shape[0], w.shape[0], ...spatial(ctx.node, x.shape, kernel)] }];
};

export const convTranspose: InferRule = (ctx) => {
  const x = need(ctx, 0);
  const w = need(ctx, 1);
  if (!x.shape || !w.shape) return [{ dtype: x.dtype }];
  const node = ctx.node;
  const kernel = (attrInts(node, 'kernel_shape') ?? w.shape.slice(2)) as number[];
  const nd = kernel.length;
  const group = attrInt(node, 'group', 1);
  const outC = dimOp(w.shape[1], group, '*', (a, b) => a * b);
  const given = attrInts(node, 'output_shape');
  if (given) return [{ dtype: x.dtype, shape: [x.shape[0], outC, ...given.slice(-nd)] }];
  const strides = attrInts(node, 'strides', Array(nd).fill(1))!;
  const dil = attrInts(node, 'dilations', Array(nd).fill(1))!;
  const pads = attrInts(node, 'pads', Array(2 * nd).fill(0))!;
  const outPad = attrInts(node, 'output_padding', Array(nd).fill(0))!;
  const sp = kernel.map((k, i) => {
    const input = x.shape![2 + i];
    if (typeof input !== 'number') return `(${input}*${strides[i]})`;
    return strides[i] * (input - 1) + outPad[i] + (k - 1) * dil[i] + 1 - pads[i] - pads[i + nd];
  });
  return [{ dtype: x.dtype, shape: [x.shape[0], outC, ...sp] }];
};

export const pool: InferRule = (ctx) => {
  const x = need(ctx, 0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const kernel = attrInts(ctx.node, 'kernel_shape')!;
  const out: Known[] = [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...spatial(ctx.node, x.shape, kernel)] }];
  if (ctx.node.outputs.length > 1) out.push({ dtype: 'int64', shape: out[0].shape });
  return out;
};

export const matmul: InferRule = (ctx) => {
  const [a, b] = [need(ctx, 0), need(ctx, 1)];
  if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const batch = broadcastShapes([as.slice(0, -2), bs.slice(0, -2)], `MatMul node '${ctx.node.name}'`);
  const out: Dim[] = [...batch];
  if (a.shape.length > 1) out.push(as[as.length - 2]);
  if (b.shape.length > 1) out.push(bs[bs.length - 1]);
  return [{ dtype: a.dtype, shape: out }];
};

export const gemm: InferRule = (ctx) => {
  const [a, b] = [need(ctx, 0), need(ctx, 1)];
  if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
  const m = attrInt(ctx.node, 'transA', 0) ? a.shape[1] : a.shape[0];
  const n = attrInt(ctx.node, 'transB', 0) ? b.shape[0] : b.shape[1];
  return [{ dtype: a.dtype, shape: [m, n] }];
};

