import { attrInt, attrInts, attrString } from '../../onnx/ir';
import type { Value } from '../../onnx/builder';
import { axisOf, constFloats, constInts, rankOf, reshapeLike, shapeOf, staticShape, unbroadcast, filled } from '../helpers';
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
  const flat = filled(b, b.reshape(n, [1]), g.dtype, 0);
  const scattered = b.op('ScatterElements', [flat, b.reshape(picked, [-1]), b.reshape(g, [-1])], { axis: 0 });
  return [reshapeLike(b, scattered, x)];
};

/**
 * Gather (e.g. an embedding table): dy rows are added into a zero table at their indices with
 * ScatterND(reduction = add), so repeated indices accumulate. Other axes are moved to the front.
 */
export const Gather: GradRule = (c) => {
  const { b, node } = c;
  const data = c.x(0);
  const r = rankOf(b, data, node);
  const ri = rankOf(b, c.x(1), node);
  const axis = axisOf(attrInt(node, 'axis', 0), r);
  // Negative indices count from the end of the gathered axis.
  const size = b.shapeOf(data, axis, axis + 1);
  const idx = b.op('Mod', [b.add(c.x(1), size), size]);
  let g = gy0(c);
  let table = data;
  const toFront = [axis, ...[...Array(r).keys()].filter((a) => a !== axis)];
  if (axis !== 0) {
    // gy is [pre, idx..., post]; ScatterND wants [idx..., pre, post] against a table [axis, pre, post].
    const gr = r + ri - 1;
    const idxAxes = [...Array(ri).keys()].map((k) => axis + k);
    g = b.transpose(g, [...idxAxes, ...[...Array(gr).keys()].filter((a) => !idxAxes.includes(a))]);
    table = b.transpose(data, toFront);
  }
  const zeros = filled(b, b.shapeOf(table), g.dtype, 0);
  let dt = b.op('ScatterND', [zeros, b.unsqueeze(idx, [ri]), g], { reduction: 'add' });
  if (axis !== 0) dt = b.transpose(dt, toFront.map((_, i) => toFront.indexOf(i)));
  return [reshapeLike(b, dt, data)];
};

/** Constant Pad: cropped parts (negative pads) come back as zeros, padded parts are sliced off. */
export const Pad: GradRule = (c) => {
  const { b, node } = c;
  if (attrString(node, 'mode', 'constant') !== 'constant') unsupported(c, `mode '${attrString(node, 'mode', 'constant')}'`);
  if (node.inputs[3]) unsupported(c, 'axes input');
  const pads = constInts(b, node.inputs[1]);
  if (!pads) unsupported(c, `pads computed at run time ('${node.inputs[1]}')`);
  const r = pads!.length / 2;
  let g = gy0(c);
  const grow = pads!.map((p) => Math.max(-p, 0));
  if (grow.some((p) => p > 0)) g = b.pad(g, grow);
  const starts = pads!.slice(0, r).map((p) => Math.max(p, 0));
  if (starts.every((s) => s === 0) && pads!.slice(r).every((p) => p <= 0)) return [g];
  const startsV = b.ints(starts);
  return [b.op('Slice', [g, startsV, b.add(startsV, b.shapeOf(c.x(0)))])];
};

/**
 * Resize, nearest mode with integer scales: every input pixel was copied into an f1 x f2 ... block,
 * so its gradient is the block sum: Reshape [.., H, f1, W, f2] then ReduceSum over the f axes.
 */
export const Resize: GradRule = (c) => {
  const { b, node } = c;
  const mode = attrString(node, 'mode', 'nearest');
  const ctm = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
  const nearest = attrString(node, 'nearest_mode', 'round_prefer_floor');
  if (mode !== 'nearest') unsupported(c, `mode '${mode}'`);
  // Integer upscaling copies whole blocks for floor+asymmetric, and for half-pixel with rounding.
  const blocks = (ctm === 'asymmetric' && nearest === 'floor') || ((ctm === 'half_pixel' || ctm === 'pytorch_half_pixel') && nearest.startsWith('round'));
  if (!blocks) unsupported(c, `coordinate_transformation_mode '${ctm}' with nearest_mode '${nearest}'`);
  const x = c.x(0);
  const xs = shapeOf(b, x);
  const ys = shapeOf(b, c.y(0));
  let factors = node.inputs[2] ? constFloats(b, node.inputs[2]) : undefined;
  if (factors?.length === 0) factors = undefined;
  if (!factors && xs && ys) factors = xs.map((d, i) => (typeof d === 'number' && typeof ys[i] === 'number' ? (ys[i] as number) / d : d === ys[i] ? 1 : NaN));
  if (!factors || factors.some((f) => !Number.isInteger(f) || f < 1)) unsupported(c, `non-integer or unknown scales [${factors?.join(',') ?? '?'}]`);
  const parts: Value[] = [];
  const axes: number[] = [];
  factors!.forEach((f, i) => {
    parts.push(b.shapeOf(x, i, i + 1));
    if (f > 1) {
      parts.push(b.ints([f]));
      axes.push(parts.length - 1);
    }
  });
  if (axes.length === 0) return [gy0(c)];
  return [b.reduceSum(b.reshape(gy0(c), b.concat(parts, 0)), axes, false)];
};
