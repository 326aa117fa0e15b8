import { attrInt, attrInts, attrString } from '../../onnx/ir';
import type { Builder, Value } from '../../onnx/builder';
import { staticShape } from '../helpers';
import { GradContext, GradRule, gy0, unsupported } from './types';

/** Conv / ConvTranspose attributes with ONNX defaults. */
interface ConvAttrs {
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
  group: number;
}

function convAttrs(c: GradContext): ConvAttrs {
  const { node } = c;
  const w = staticShape(c.b, c.x(1));
  if (!w) unsupported(c, 'weights of unknown shape');
  const kernel = attrInts(node, 'kernel_shape') ?? w!.slice(2);
  const nd = kernel.length;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') unsupported(c, `auto_pad '${autoPad}'`);
  return {
    kernel,
    strides: attrInts(node, 'strides') ?? Array(nd).fill(1),
    pads: attrInts(node, 'pads') ?? Array(2 * nd).fill(0),
    dilations: attrInts(node, 'dilations') ?? Array(nd).fill(1),
    group: attrInt(node, 'group', 1),
  };
}

/** How the weight gradient of a convolution is formulated (see docs/autodiff.md for timings). */
export type WeightGradient = 'conv-transposed' | 'slice-gemm';
export const convGradOptions: { weightGradient: WeightGradient } = { weightGradient: 'slice-gemm' };

const range = (n: number, from = 0) => [...Array(n).keys()].map((i) => i + from);

/**
 * dX of Y = Conv(X, W): ConvTranspose(dY, W) with the same strides/pads/dilations/group, plus the
 * output_padding that recovers X's exact size when (in + pads - span) % stride != 0.
 */
function convInputGrad(c: GradContext, g: Value, w: Value, a: ConvAttrs, x: Value): Value {
  const nd = a.kernel.length;
  const xs = c.b.facts(x.name)?.shape;
  const outPad = a.kernel.map((k, i) => {
    if (a.strides[i] === 1) return 0;
    const size = xs?.[2 + i];
    if (typeof size !== 'number') unsupported(c, 'strided convolution over an input of unknown spatial size');
    return ((size as number) + a.pads[i] + a.pads[i + nd] - a.dilations[i] * (k - 1) - 1) % a.strides[i];
  });
  return c.b.op('ConvTranspose', [g, w], {
    kernel_shape: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group,
    output_padding: outPad.some((p) => p > 0) ? outPad : undefined,
  });
}

/**
 * dW of Y = Conv(X, W) as a convolution over transposed tensors: X^T [C/g, g*N, H, W] (batch as
 * channels) convolved with dY^T [M, N, Ho, Wo] as the kernel, strides and dilations swapped.
 */
function weightGradTransposed(b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]): Value {
  const nd = a.kernel.length;
  const [C, M, G] = [xs[1], gs[1], a.group];
  const sp = range(nd, 2);
  const xT = G === 1
    ? b.transpose(x, [1, 0, ...sp])
    : b.reshape(b.transpose(b.reshape(x, [0, G, C / G, ...xs.slice(2)]), [2, 1, 0, ...range(nd, 3)]), [C / G, -1, ...xs.slice(2)]);
  const gT = G === 1
    ? b.transpose(g, [1, 0, ...sp])
    : b.reshape(b.transpose(b.reshape(g, [0, G, M / G, ...gs.slice(2)]), [1, 2, 0, ...range(nd, 3)]), [M, -1, ...gs.slice(2)]);
  let dw = b.op('Conv', [xT, gT], { kernel_shape: gs.slice(2), strides: a.dilations, dilations: a.strides, pads: a.pads, group: G });
  const got = staticShape(b, dw)!.slice(2);
  if (got.some((d, i) => d !== a.kernel[i])) dw = b.slice(dw, a.kernel.map(() => 0), a.kernel, sp);
  return b.transpose(dw, [1, 0, ...sp]);
}

/**
 * dW of a 2-D, group-1 Conv in NHWC: for each kernel offset (i, j) the strided window of padded X
 * is a [N*Ho*Wo, C] matrix and dW[:, :, i, j] = dY^T X_ij (one Gemm each), the small results
 * concatenated. Fastest measured formulation on CPU (PERF-NOTES.md, docs/autodiff.md).
 */
function weightGradSliceGemm(b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]): Value {
  const [C, M] = [xs[1], gs[1]];
  const [kh, kw] = a.kernel;
  const [ho, wo] = gs.slice(2);
  const padded = a.pads.some((p) => p !== 0) ? b.pad(x, [0, 0, a.pads[0], a.pads[1], 0, 0, a.pads[2], a.pads[3]]) : x;
  const xh = b.transpose(padded, [0, 2, 3, 1]);
  const gh = b.reshape(b.transpose(g, [0, 2, 3, 1]), [-1, M]);
  const taps: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const [r0, c0] = [i * a.dilations[0], j * a.dilations[1]];
      const win = b.slice(xh, [r0, c0], [r0 + a.strides[0] * (ho - 1) + 1, c0 + a.strides[1] * (wo - 1) + 1], [1, 2], a.strides);
      const tap = b.gemm(gh, b.reshape(win, [-1, C]), null, { transA: true });
      taps.push(b.unsqueeze(tap, [2]));
    }
  }
  return b.reshape(b.concat(taps, 2), [M, C, kh, kw]);
}

/** dW of Y = Conv(X, W) for input X and output gradient dY (also serves ConvTranspose). */
function convWeightGrad(c: GradContext, x: Value, g: Value, a: ConvAttrs): Value {
  const xs = staticShape(c.b, x)?.slice() ?? shapeWithBatch(c, x);
  const gs = staticShape(c.b, g)?.slice() ?? shapeWithBatch(c, g);
  const sliceGemm = convGradOptions.weightGradient === 'slice-gemm' && a.kernel.length === 2 && a.group === 1;
  return sliceGemm ? weightGradSliceGemm(c.b, x, g, a, xs, gs) : weightGradTransposed(c.b, x, g, a, xs, gs);
}

/** The shape with a symbolic batch replaced by 0 ("copy" in Reshape); other dims must be static. */
function shapeWithBatch(c: GradContext, v: Value): number[] {
  const s = c.b.facts(v.name)?.shape;
  if (!s || s.slice(1).some((d) => typeof d !== 'number')) unsupported(c, `convolution over '${v.name}' with non-static channel or spatial dims`);
  return [0, ...(s!.slice(1) as number[])];
}

const biasGrad = (b: Builder, g: Value, rank: number): Value => b.reduceSum(g, [0, ...range(rank - 2, 2)], false);

export const Conv: GradRule = (c) => {
  const a = convAttrs(c);
  const g = gy0(c);
  return [
    c.needs[0] ? convInputGrad(c, g, c.x(1), a, c.x(0)) : undefined,
    c.needs[1] ? convWeightGrad(c, c.x(0), g, a) : undefined,
    c.needs[2] ? biasGrad(c.b, g, a.kernel.length + 2) : undefined,
  ];
};

/**
 * Y = ConvTranspose(X, W) is the adjoint of X = Conv(Y, W): dX = Conv(dY, W) with the same
 * attributes, and dW is the Conv weight gradient with the roles of input and output swapped.
 */
export const ConvTranspose: GradRule = (c) => {
  const { node } = c;
  if (attrInts(node, 'output_shape')) unsupported(c, 'output_shape attribute');
  const a = convAttrs(c);
  const g = gy0(c);
  return [
    c.needs[0] ? c.b.op('Conv', [g, c.x(1)], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group }) : undefined,
    c.needs[1] ? convWeightGrad(c, g, c.x(0), a) : undefined,
    c.needs[2] ? biasGrad(c.b, g, a.kernel.length + 2) : undefined,
  ];
};

export { convAttrs, convInputGrad };
export type { ConvAttrs };
