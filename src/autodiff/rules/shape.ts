import { attrInt, attrInts, attrString } from '../../onnx/ir';
import type { Value } from '../../onnx/builder';
import { axisOf, constInts, rankOf, reshapeLike, shapeOf, staticShape, unbroadcast, zerosLike } from '../helpers';
import { GradRule, gy0, gyOrZeros, unsupported } from './types';

/** Ops that only move or copy elements: the gradient moves them back (and sums copies). */

/** Reshape-like ops: the gradient takes the input's shape back. */
const restoreShape: GradRule = (c) => [reshapeLike(c.b, gy0(c), c.x(0))];
export const Reshape = restoreShape;
export const Flatten = restoreShape;
export const Squeeze = restoreShape;
export const Unsqueeze = restoreShape;

export const Transpose: GradRule = (c) => {
  const rank = rankOf(c.b, c.x(0), c.node);
  const perm = attrInts(c.node, 'perm') ?? [...Array(rank).keys()].reverse();
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return [c.b.transpose(gy0(c), inverse)];
};

export const Expand: GradRule = (c) => [unbroadcast(c.b, gy0(c), c.x(0))];

/** Concat: each input gets its slab of dy (Split when sizes are static, else run-time Slices). */
export const Concat: GradRule = (c) => {
  const { b, node } = c;
  const g = gy0(c);
  const xs = node.inputs.map((_, i) => c.x(i));
  const axis = axisOf(attrInt(node, 'axis'), rankOf(b, xs[0], node));
  const sizes = xs.map((v) => shapeOf(b, v)?.[axis]);
  if (sizes.every((d) => typeof d === 'number')) {
    const parts = b.split(g, sizes as number[], axis);
    return parts.map((p, i) => (c.needs[i] ? p : undefined));
  }
  let start = b.ints([0]);
  return xs.map((v, i) => {
    const end = b.add(start, b.shapeOf(v, axis, axis + 1));
    const part = c.needs[i] ? b.op('Slice', [g, start, end, b.ints([axis])]) : undefined;
    start = end;
    return part;
  });
};

/** Split: dy of the pieces concatenated back (zeros for pieces not on the path). */
export const Split: GradRule = (c) => {
  const rank = rankOf(c.b, c.x(0), c.node);
  const axis = axisOf(attrInt(c.node, 'axis', 0), rank);
  return [c.b.concat(c.node.outputs.map((_, i) => gyOrZeros(c, i)), axis)];
};

/**
 * Slice: dy lands where the slice read from. With unit steps and static bounds this is a Pad;
 * otherwise (negative or strided steps) the sliced positions come from slicing an index map of x,
 * and dy is scattered there.
 */
export const Slice: GradRule = (c) => {
  const { b, node } = c;
  const x = c.x(0);
  const g = gy0(c);
  const dims = staticShape(b, x);
  const [starts, ends] = [constInts(b, node.inputs[1]), constInts(b, node.inputs[2])];
  const axes = node.inputs[3] ? constInts(b, node.inputs[3]) : starts?.map((_, i) => i);
  const steps = node.inputs[4] ? constInts(b, node.inputs[4]) : starts?.map(() => 1);
  if (dims && starts && ends && axes && steps && steps.every((s) => s === 1)) {
    const r = dims.length;
    const pads = Array(2 * r).fill(0);
    let ok = true;
    axes.forEach((a0, i) => {
      const a = axisOf(a0, r);
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dims[a] : v, 0), dims[a]);
      const [s, e] = [clamp(starts[i]), clamp(ends[i])];
      if (e < s) ok = false;
      pads[a] = s;
      pads[a + r] = dims[a] - e;
    });
    if (ok) return [b.pad(g, pads)];
  }
  const n = b.op('Size', [x]);
  const index = b.reshape(b.op('Range', [b.constant(0, 'int64'), n, b.constant(1, 'int64')]), b.shapeOf(x));
  const picked = b.op('Slice', [index, ...node.inputs.slice(1).map((name) => (name ? b.value(name) : null))]);
  const flat = b.op('ConstantOfShape', [b.reshape(n, [1])], { value: zerosLike(b, g) && new (x.dtype === 'float64' ? Float64Array : Float32Array)([0]) && tensorZero(x.dtype) });
  const scattered = b.op('ScatterElements', [flat, b.reshape(picked, [-1]), b.reshape(g, [-1])], { axis: 0 });
  return [b.reshape(scattered, b.shapeOf(x))];
};
