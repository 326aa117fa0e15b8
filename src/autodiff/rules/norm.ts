import { attrFloat, attrInt } from '../../onnx/ir';
import type { Builder, Value } from '../../onnx/builder';
import { axisOf, constFloats, rankOf, scalar, unbroadcast } from '../helpers';
import { GradRule, gy0, unsupported } from './types';

/** Normalisations and softmax. */

/**
 * 1 / sqrt(var + eps) over `axes`, and xhat = (x - mean) invStd unless the caller already has it
 * (`xhat`). The variance is ReduceMean of the written square: ORT's ReduceSumSquare, which would
 * skip that write, is 3x slower than Mul + ReduceMean on [64, 8, 12288] (docs/autodiff.md).
 */
function standardize(b: Builder, x: Value, axes: number[], eps: number, xhat?: Value): { xhat: Value; invStd: Value } {
  const centered = b.sub(x, b.reduceMean(x, axes));
  const variance = b.reduceMean(b.mul(centered, centered), axes);
  const invStd = b.reciprocal(b.sqrt(b.add(variance, scalar(b, eps, x))));
  return { xhat: xhat ?? b.mul(centered, invStd), invStd };
}

/**
 * Backward of xhat over `axes` for upstream gradient d (= dy * scale):
 * dx = invStd * (d - mean(d) - xhat * mean(d * xhat)).
 */
function standardizeBackward(b: Builder, d: Value, xhat: Value, invStd: Value, axes: number[]): Value {
  const inner = b.sub(b.sub(d, b.reduceMean(d, axes)), b.mul(xhat, b.reduceMean(b.mul(d, xhat), axes)));
  return b.mul(inner, invStd);
}

/** InstanceNormalization: y = scale[c] * xhat + bias[c], statistics over the spatial axes. */
export const InstanceNormalization: GradRule = (c) => {
  const { b, node, needs } = c;
  const x = c.x(0);
  const rank = rankOf(b, x, node);
  const spatial = [...Array(rank - 2).keys()].map((i) => i + 2);
  // GroupNorm as exported (InstanceNormalization with constant ones/zeros): y is xhat itself and
  // dy needs no scaling, which saves two full-size passes.
  const identityAffine = !needs[1] && !needs[2] && allEqual(constFloats(b, node.inputs[1]), 1) && allEqual(constFloats(b, node.inputs[2]), 0);
  const { xhat, invStd } = standardize(b, x, spatial, attrFloat(node, 'epsilon', 1e-5), identityAffine ? c.y(0) : undefined);
  const g = gy0(c);
  const perChannel = (v: Value) => b.reduceSum(v, [0, ...spatial], false);
  const scaled = identityAffine ? g : b.mul(g, b.unsqueeze(c.x(1), spatial.map((_, i) => i + 1)));
  return [
    needs[0] ? standardizeBackward(b, scaled, xhat, invStd, spatial) : undefined,
    needs[1] ? perChannel(b.mul(g, xhat)) : undefined,
    needs[2] ? perChannel(g) : undefined,
  ];
};

/** LayerNormalization (opset 17): statistics over axes [axis, rank); Mean/InvStdDev outputs are not differentiated. */
export const LayerNormalization: GradRule = (c) => {
  const { b, node, needs } = c;
  if (c.gy[1] || c.gy[2]) unsupported(c, 'gradients through the Mean/InvStdDev outputs');
  const x = c.x(0);
  const rank = rankOf(b, x, node);
  const axis = axisOf(attrInt(node, 'axis', -1), rank);
  const axes = [...Array(rank - axis).keys()].map((i) => i + axis);
  const { xhat, invStd } = standardize(b, x, axes, attrFloat(node, 'epsilon', 1e-5));
  const g = gy0(c);
  return [
    needs[0] ? standardizeBackward(b, b.mul(g, c.x(1)), xhat, invStd, axes) : undefined,
    needs[1] ? unbroadcast(b, b.mul(g, xhat), c.x(1)) : undefined,
    needs[2] ? unbroadcast(b, g, c.x(2)) : undefined,
  ];
};

const allEqual = (v: number[] | undefined, k: number) => !!v && v.length > 0 && v.every((e) => e === k);

// Softmax: dx = y * (dy - sum(dy * y)) along the axis.
export const Softmax: GradRule = (c) => {
  const { b, node } = c;
  const y = c.y(0);
  const g = gy0(c);
  const axis = axisOf(attrInt(node, 'axis', -1), rankOf(b, y, node));
  return [b.mul(y, b.sub(g, b.reduceSum(b.mul(g, y), [axis], true)))];
};

// LogSoftmax: dx = dy - softmax(x) * sum(dy) along the axis.
export const LogSoftmax: GradRule = (c) => {
  const { b, node } = c;
  const y = c.y(0);
  const g = gy0(c);
  const axis = axisOf(attrInt(node, 'axis', -1), rankOf(b, y, node));
  return [b.sub(g, b.mul(b.exp(y), b.reduceSum(g, [axis], true)))];
};
