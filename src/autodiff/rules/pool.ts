import { Tensor } from '../../onnx/tensor';
import { attrInt, attrInts } from '../../onnx/ir';
import { filled, reshapeLike, staticShape } from '../helpers';
import { ConvAttrs, convInputGrad } from './conv';
import { GradContext, GradRule, gy0, unsupported } from './types';

function poolAttrs(c: GradContext): ConvAttrs {
  const { node } = c;
  if (attrInt(node, 'ceil_mode', 0)) unsupported(c, 'ceil_mode = 1');
  const kernel = attrInts(node, 'kernel_shape')!;
  const nd = kernel.length;
  return {
    kernel,
    strides: attrInts(node, 'strides') ?? Array(nd).fill(1),
    pads: attrInts(node, 'pads') ?? Array(2 * nd).fill(0),
    dilations: attrInts(node, 'dilations') ?? Array(nd).fill(1),
    group: 1,
  };
}

/**
 * AveragePool = (depthwise all-ones Conv) / count, so dX = ConvTranspose(dY / count, ones) with one
 * group per channel; count is the window size, or the number of non-pad cells when
 * count_include_pad = 0.
 */
export const AveragePool: GradRule = (c) => {
  const { b, node } = c;
  const a = poolAttrs(c);
  const xs = staticShape(b, c.x(0));
  const C = c.b.facts(node.inputs[0])?.shape?.[1];
  if (typeof C !== 'number') unsupported(c, 'an input with an unknown channel count');
  const window = a.kernel.reduce((p, k) => p * k, 1);
  const ones = b.constant(new Tensor('float32', [C as number, 1, ...a.kernel], new Float32Array((C as number) * window).fill(1)), 'float32', 'pool_ones');
  let count: ReturnType<typeof gy0>;
  if (attrInt(node, 'count_include_pad', 0) || a.pads.every((p) => p === 0)) count = b.constant(window, 'float32');
  else {
    if (!xs) unsupported(c, 'count_include_pad = 0 over an input of unknown spatial size');
    const plane = filled(b, b.ints([1, 1, ...xs!.slice(2)]), 'float32', 1);
    const one = b.constant(new Tensor('float32', [1, 1, ...a.kernel], new Float32Array(window).fill(1)), 'float32', 'pool_one');
    count = b.op('Conv', [plane, one], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations });
  }
  return [convInputGrad(c, b.div(gy0(c), count), ones, { ...a, group: C as number }, c.x(0))];
};

/**
 * MaxPool: dy flows to the arg-max of each window. The Indices output (flat NCHW positions) is
 * recomputed when the forward node does not have it, and dy is scatter-added there.
 */
export const MaxPool: GradRule = (c) => {
  const { b, node } = c;
  if (attrInt(node, 'storage_order', 0)) unsupported(c, 'storage_order = 1');
  const x = c.x(0);
  const indices = node.outputs[1] ? c.y(1) : b.node('MaxPool', [x], { ...node.attrs }, 2)[1];
  const n = b.op('Size', [x]);
  const zeros = filled(b, b.reshape(n, [1]), x.dtype, 0);
  const flat = b.op('ScatterElements', [zeros, b.reshape(indices, [-1]), b.reshape(gy0(c), [-1])], { axis: 0, reduction: 'add' });
  return [reshapeLike(b, flat, x)];
};

