import { DiffusionError } from '../core/errors';
import type { Builder, Value } from '../onnx/builder';
import type { Node } from '../onnx/ir';
import { DType, floatToHalf, Shape, Tensor } from '../onnx/tensor';

/** Shared math for gradient rules: shapes, broadcast reduction, zeros. */

export const FLOAT_DTYPES = new Set(['float32', 'float16', 'float64']);

/** The shape inference knows for `v` (undefined when even the rank is unknown). */
export function shapeOf(b: Builder, v: Value): Shape | undefined {
  return b.facts(v.name)?.shape;
}

/** The shape of `v` when every dim is a number. */
export function staticShape(b: Builder, v: Value): number[] | undefined {
  const s = shapeOf(b, v);
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
}

/** Rank of `v`, required by rules that build permutations or axes. */
export function rankOf(b: Builder, v: Value, node: Node): number {
  const s = shapeOf(b, v);
  if (!s) throw new DiffusionError(`gradient of op '${node.opType}' (node '${node.name}'): the rank of '${v.name}' is unknown`);
  return s.length;
}

const sameDims = (a: Shape, c: Shape) => a.length === c.length && a.every((d, i) => d === c[i]);

/** `x` reshaped to the shape of `like` (static when known, otherwise Shape(like) at run time). */
export function reshapeLike(b: Builder, x: Value, like: Value): Value {
  const xs = shapeOf(b, x);
  const ls = shapeOf(b, like);
  if (xs && ls && sameDims(xs, ls)) return x;
  const s = staticShape(b, like);
  return b.reshape(x, s ?? b.shapeOf(like));
}

/** Integer contents of a constant-like value (axes, pads, shapes) when inference folded them. */
export function constInts(b: Builder, name: string): number[] | undefined {
  const d = b.facts(name)?.data;
  return d && d.every((x) => typeof x === 'number') ? (d as number[]) : undefined;
}

/** Float contents of a small constant (e.g. Resize scales) when known. */
export function constFloats(b: Builder, name: string): number[] | undefined {
  return b.facts(name)?.tensor?.toNumbers();
}

/**
 * Sums the gradient `g` of a broadcast result down to the shape of `target` (numpy broadcasting):
 * ReduceSum over the broadcast axes, then Reshape. Axes come from static shapes when inference
 * knows them (symbolic dims equal by name count as equal); otherwise they are computed at run time
 * (Shape/Equal/NonZero) so a symbolic batch still works.
 */
export function unbroadcast(b: Builder, g: Value, target: Value): Value {
  const gs = shapeOf(b, g);
  const ts = shapeOf(b, target);
  if (gs && ts) {
    if (sameDims(gs, ts)) return g;
    const lead = gs.length - ts.length;
    const axes: number[] = [];
    let ok = lead >= 0;
    gs.forEach((d, i) => {
      if (i < lead) return void axes.push(i);
      const t = ts[i - lead];
      if (t === d) return;
      if (t === 1) axes.push(i);
      else ok = false;
    });
    if (ok) {
      const r = axes.length ? b.reduceSum(g, axes, true) : g;
      return reshapeLike(b, r, target);
    }
  }
  // Run-time axes: where Shape(g) differs from Shape(target) left-padded with ones.
  const gShape = b.shapeOf(g);
  const tShape = b.shapeOf(target);
  const extra = b.op('Sub', [b.op('Size', [gShape]), b.op('Size', [tShape])]);
  const ones = b.op('ConstantOfShape', [b.reshape(extra, [1])], { value: Tensor.int64([1], [1]) });
  const padded = b.concat([ones, tShape], 0);
  const axes = b.reshape(b.op('NonZero', [b.op('Not', [b.equal(gShape, padded)])]), [-1]);
  const r = b.op('ReduceSum', [g, axes], { keepdims: 1, noop_with_empty_axes: 1 });
  return b.reshape(r, tShape);
}

/** A tensor of `value` with run-time shape `shape` (1-D int64) and float dtype `dtype`. */
export function filled(b: Builder, shape: Value, dtype: DType, value: number): Value {
  const data = dtype === 'float64' ? new Float64Array([value]) : dtype === 'float16' ? new Uint16Array([floatToHalf(value)]) : new Float32Array([value]);
  return b.op('ConstantOfShape', [shape], { value: new Tensor(dtype, [1], data) });
}

/** A tensor of `value` with the shape and dtype of `like`. */
export function filledLike(b: Builder, like: Value, value: number): Value {
  const s = staticShape(b, like);
  return filled(b, s ? b.ints(s, 'shape') : b.shapeOf(like), like.dtype, value);
}

export const zerosLike = (b: Builder, like: Value): Value => filledLike(b, like, 0);

/** A scalar constant of `like`'s float dtype. */
export function scalar(b: Builder, value: number, like: Value): Value {
  return b.constant(value, like.dtype);
}

/** Normalises a possibly negative axis. */
export const axisOf = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

