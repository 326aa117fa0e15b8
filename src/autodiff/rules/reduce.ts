import { attrInt, attrInts } from '../../onnx/ir';
import type { Value } from '../../onnx/builder';
import { axisOf, constInts, rankOf, staticShape } from '../helpers';
import { GradContext, GradRule, gy0, unsupported } from './types';

/** The reduced axes (normalised), from the `axes` attribute (ReduceMean-17) or input (ReduceSum-13). */
function reducedAxes(c: GradContext, rank: number): number[] {
  const { node, b } = c;
  let axes: number[] | undefined;
  if (node.opType === 'ReduceSum') {
    axes = node.inputs[1] ? constInts(b, node.inputs[1]) : [];
    if (!axes) unsupported(c, `axes computed at run time ('${node.inputs[1]}')`);
  } else axes = attrInts(node, 'axes', []);
  if (axes!.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0)) return [];
    return [...Array(rank).keys()];
  }
  return axes!.map((a) => axisOf(a, rank)).sort((p, q) => p - q);
}

/** dy broadcast back over the reduced axes (re-inserting them when keepdims = 0). */
function spread(c: GradContext, g: Value): Value {
  const { b, node } = c;
  const x = c.x(0);
  const all = node.opType === 'ReduceSum' ? !node.inputs[1] : !attrInts(node, 'axes');
  // Reducing every axis needs no rank: dy (scalar or all-ones shape) expands straight back.
  if (all && !attrInt(node, 'noop_with_empty_axes', 0)) return b.expand(g, b.shapeOf(x));
  const axes = reducedAxes(c, rankOf(b, x, node));
  const kept = attrInt(node, 'keepdims', 1) || axes.length === 0 ? g : b.unsqueeze(g, axes);
  return b.expand(kept, b.shapeOf(x));
}

export const ReduceSum: GradRule = (c) => [spread(c, gy0(c))];

// mean = sum / n with n = |x| / |y|.
export const ReduceMean: GradRule = (c) => {
  const { b } = c;
  const xs = staticShape(b, c.x(0));
  const ys = staticShape(b, c.y(0));
  const g = gy0(c);
  if (xs && ys) {
    const n = xs.reduce((p, d) => p * d, 1) / ys.reduce((p, d) => p * d, 1);
    return [spread(c, b.scale(g, 1 / n))];
  }
  const n = b.div(b.cast(b.op('Size', [c.x(0)]), g.dtype), b.cast(b.op('Size', [c.y(0)]), g.dtype));
  return [spread(c, b.div(g, n))];
};

// d sum(x^2) = 2 x dy
export const ReduceSumSquare: GradRule = (c) => {
  const { b } = c;
  return [b.mul(spread(c, gy0(c)), b.scale(c.x(0), 2))];
};
