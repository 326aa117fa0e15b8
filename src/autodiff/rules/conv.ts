import { attrInt, attrInts, attrString } from '../../onnx/ir';
import { Tensor } from '../../onnx/tensor';
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
export type WeightGradient = 'conv-transposed' | 'slice-gemm' | 'unfold-matmul' | 'unfold-smaller' | 'shift-matmul';
/** How a stride-1 input gradient is formulated: a Conv with the flipped kernel, or ConvTranspose. */
export type InputGradient = 'conv-flipped' | 'conv-transpose';
/** The conv-gradient formulations, chosen per grad() call (GradOptions.conv, StepGraphOptions.conv). */
export interface ConvGradOptions {
  weightGradient: WeightGradient;
  inputGradient: InputGradient;
  /**
   * Samples per chunk of the batched weight gradients (0 = the whole batch at once). On the unet
   * step, chunks of 16 cut peak RSS from 1611 to 1082 MiB with no step-time gain (docs/autodiff.md).
   */
  weightGradChunk: number;
}
export const DEFAULT_CONV_GRAD: Readonly<ConvGradOptions> = Object.freeze({
  weightGradient: 'unfold-smaller',
  inputGradient: 'conv-flipped',
  weightGradChunk: 0,
});

const range = (n: number, from = 0) => [...Array(n).keys()].map((i) => i + from);

/**
 * dX of a stride-1 Conv as a Conv of dY with the kernel flipped in space and its in/out channels
 * swapped (per group), pads d(k-1) - p: dX[j] = sum_i dY[j + p - d i] W[i]. ORT's Conv kernel runs
 * this ~2x faster than ConvTranspose on CPU (docs/autodiff.md).
 */
function convInputGradFlipped(b: Builder, g: Value, w: Value, a: ConvAttrs, ws: number[]): Value {
  const nd = a.kernel.length;
  const sp = range(nd, 2);
  const [O, Cg, G] = [ws[0], ws[1], a.group];
  let wt = G === 1
    ? b.transpose(w, [1, 0, ...sp])
    : b.reshape(b.transpose(b.reshape(w, [G, O / G, Cg, ...a.kernel]), [0, 2, 1, ...range(nd, 3)]), [G * Cg, O / G, ...a.kernel]);
  if (a.kernel.some((k) => k > 1)) {
    // The spatial flip as a MatMul of [*, k k] by the reversal permutation (exact: one product by 1,
    // the rest by 0): ORT's Slice with negative steps took ~0.9 ms per small weight in the step.
    const kk = a.kernel.reduce((p, k) => p * k, 1);
    const rev = new Float32Array(kk * kk);
    for (let i = 0; i < kk; i++) rev[i * kk + (kk - 1 - i)] = 1;
    wt = b.reshape(b.matmul(b.reshape(wt, [-1, kk]), b.constant(new Tensor('float32', [kk, kk], rev), 'float32', 'flip')), [G * Cg, O / G, ...a.kernel]);
  }
  const pads = [...a.kernel.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i]), ...a.kernel.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i + nd])];
  return b.op('Conv', [g, wt], { kernel_shape: a.kernel, pads, dilations: a.dilations, group: G });
}

/**
 * dX of Y = Conv(X, W): for stride 1, a Conv with the flipped kernel (above); otherwise
 * ConvTranspose(dY, W) with the same strides/pads/dilations/group, plus the output_padding that
 * recovers X's exact size when (in + pads - span) % stride != 0.
 */
function convInputGrad(c: GradContext, g: Value, w: Value, a: ConvAttrs, x: Value): Value {
  const nd = a.kernel.length;
  const ws = staticShape(c.b, w);
  const flippable = a.strides.every((s) => s === 1) && a.kernel.every((k, i) => a.pads[i] <= a.dilations[i] * (k - 1) && a.pads[i + nd] <= a.dilations[i] * (k - 1));
  if (c.options.conv.inputGradient === 'conv-flipped' && flippable && ws) return convInputGradFlipped(c.b, g, w, a, ws);
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
 * concatenated. Faster than conv-transposed on CPU; the default, unfold-matmul, measured faster
 * still (docs/autodiff.md).
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

/**
 * dW of a 2-D, group-1 Conv by unfolding X into patches with a depthwise Conv whose one-hot kernel
 * copies each tap (same strides/pads/dilations as the forward, so patches align with dY), then one
 * batched MatMul per sample, dW = sum_n dY_n [O, HW] P_n^T [HW, C k k], and a ReduceSum over N. ORT
 * fuses the Transpose into the MatMul; no NHWC copies of the activations are made.
 */
function weightGradUnfold(b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]): Value {
  const [C, M] = [xs[1], gs[1]];
  const kk = a.kernel.reduce((p, k) => p * k, 1);
  const pointwise = kk === 1 && a.strides.every((s) => s === 1) && a.pads.every((p) => p === 0);
  let patches = x;
  if (!pointwise) {
    const eye = new Float32Array(C * kk * kk);
    for (let ch = 0; ch < C; ch++) for (let k = 0; k < kk; k++) eye[(ch * kk + k) * kk + k] = 1;
    const kernel = b.constant(new Tensor('float32', [C * kk, 1, ...a.kernel], eye), 'float32', 'unfold_kernel');
    patches = b.op('Conv', [x, kernel], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations, group: C });
  }
  const p3 = b.reshape(patches, [xs[0], C * kk, -1]);
  const g3 = b.reshape(g, [gs[0], M, -1]);
  const perSample = b.matmul(g3, b.transpose(p3, [0, 2, 1]));
  return b.reshape(b.reduceSum(perSample, [0], false), [M, C, ...a.kernel]);
}

/**
 * unfold-smaller: unfold-matmul that unfolds dY instead of X when dY has fewer channels (M < C, e.g.
 * a decoder conv over a concatenated skip), so the patches are M k k instead of C k k rows. For a
 * stride-1 conv whose pads fit the flipped kernel (p <= d(k-1)), tap t = (i, j) of dY seen from
 * X's grid is dY[q + p - d t], a depthwise Conv of dY with the one-hot kernel at (k-1-i, k-1-j) and
 * pads d(k-1) - p (the geometry of conv-flipped's dX), whose output has X's spatial size. Then
 * dW^T = sum_n X_n [C, HW] Q_n^T [HW, M k k] (batched MatMul + ReduceSum over N) and a Transpose
 * of the small [C, M, k k] result. Other convs fall back to unfold-matmul.
 */
function weightGradUnfoldSmaller(b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]): Value {
  const [C, M] = [xs[1], gs[1]];
  const nd = a.kernel.length;
  const kk = a.kernel.reduce((p, k) => p * k, 1);
  const flippable = a.strides.every((s) => s === 1) && a.kernel.every((k, i) => a.pads[i] <= a.dilations[i] * (k - 1) && a.pads[i + nd] <= a.dilations[i] * (k - 1));
  if (kk === 1 || M >= C || !flippable || nd !== 2) return weightGradUnfold(b, x, g, a, xs, gs);
  const [kh, kw] = a.kernel;
  const eye = new Float32Array(M * kk * kk);
  for (let m = 0; m < M; m++) {
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) eye[(m * kk + i * kw + j) * kk + (kh - 1 - i) * kw + (kw - 1 - j)] = 1;
  }
  const kernel = b.constant(new Tensor('float32', [M * kk, 1, kh, kw], eye), 'float32', 'unfold_kernel');
  const pads = [...a.kernel.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i]), ...a.kernel.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i + nd])];
  const patches = b.op('Conv', [g, kernel], { kernel_shape: a.kernel, pads, dilations: a.dilations, group: M });
  const q3 = b.reshape(patches, [gs[0], M * kk, -1]);
  const x3 = b.reshape(x, [xs[0], C, -1]);
  const perSample = b.matmul(x3, b.transpose(q3, [0, 2, 1]));
  const dwT = b.reshape(b.reduceSum(perSample, [0], false), [C, M, kk]);
  return b.reshape(b.transpose(dwT, [1, 0, 2]), [M, C, kh, kw]);
}

/**
 * dW of a stride-1, 2-D, group-1 Conv without the depthwise-Conv unfold: X is padded and flattened
 * per channel with row length Wp = W + pl + pr, so the window of tap (i, j) is the contiguous run
 * X_flat[o_ij : o_ij + Ho Wp], o_ij = d_h i Wp + d_w j (one extra bottom row keeps the last run in
 * bounds). dY is padded with Wp - Wo zero columns to the same [Ho, Wp] grid, so the wrapped columns
 * contribute nothing. The 9 runs are contiguous Slices concatenated to patches [N, C k k, Ho Wp],
 * then the batched MatMul and ReduceSum of unfold-matmul (K grows by Wp / Wo).
 */
function weightGradShift(b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]): Value {
  const [N, C, H, W] = xs;
  const [M, Ho, Wo] = [gs[1], gs[2], gs[3]];
  const [kh, kw] = a.kernel;
  const [pt, pl, pb, pr] = a.pads;
  const Wp = W + pl + pr;
  const L = Ho * Wp;
  const extra = (H + pt + pb) * Wp < (kh - 1) * a.dilations[0] * Wp + (kw - 1) * a.dilations[1] + L ? 1 : 0;
  const xp = pt || pl || pb || pr || extra ? b.pad(x, [0, 0, pt, pl, 0, 0, pb + extra, pr]) : x;
  const xf = b.reshape(xp, [N, C, -1]);
  const taps: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const o = i * a.dilations[0] * Wp + j * a.dilations[1];
      taps.push(b.unsqueeze(b.slice(xf, [o], [o + L], [2]), [2]));
    }
  }
  const patches = taps.length === 1 ? taps[0] : b.concat(taps, 2);
  const gp = b.reshape(Wp > Wo ? b.pad(g, [0, 0, 0, 0, 0, 0, 0, Wp - Wo]) : g, [N, M, L]);
  const perSample = b.matmul(gp, b.transpose(b.reshape(patches, [N, C * kh * kw, L]), [0, 2, 1]));
  return b.reshape(b.reduceSum(perSample, [0], false), [M, C, kh, kw]);
}

type WeightGradFn = (b: Builder, x: Value, g: Value, a: ConvAttrs, xs: number[], gs: number[]) => Value;

/**
 * A batched weight gradient over chunks of the batch: X and dY are Split along N, each chunk's
 * patches (9x its activations) are written and read back by the MatMul while they still sit in the
 * last-level cache instead of making a round trip through DRAM, and the partial dW are summed.
 */
function chunkedOverBatch(inner: WeightGradFn, n: number): WeightGradFn {
  return (b, x, g, a, xs, gs) => {
    const N = xs[0];
    if (!n || !N || N <= n) return inner(b, x, g, a, xs, gs);
    const sizes = Array.from({ length: Math.ceil(N / n) }, (_, i) => Math.min(n, N - i * n));
    const xc = b.split(x, sizes, 0);
    const gc = b.split(g, sizes, 0);
    return b.op('Sum', sizes.map((s, i) => inner(b, xc[i], gc[i], a, [s, ...xs.slice(1)], [s, ...gs.slice(1)])));
  };
}

/** dW of Y = Conv(X, W) for input X and output gradient dY (also serves ConvTranspose). */
function convWeightGrad(c: GradContext, x: Value, g: Value, a: ConvAttrs): Value {
  const xs = staticShape(c.b, x)?.slice() ?? shapeWithBatch(c, x);
  const gs = staticShape(c.b, g)?.slice() ?? shapeWithBatch(c, g);
  const twoD = a.kernel.length === 2 && a.group === 1;
  const stride1 = a.strides.every((st) => st === 1);
  const { weightGradient: wg, weightGradChunk: chunk } = c.options.conv;
  if (twoD && stride1 && wg === 'shift-matmul') return chunkedOverBatch(weightGradShift, chunk)(c.b, x, g, a, xs, gs);
  if (twoD && wg === 'unfold-smaller') return chunkedOverBatch(weightGradUnfoldSmaller, chunk)(c.b, x, g, a, xs, gs);
  if (twoD && (wg === 'unfold-matmul' || wg === 'shift-matmul')) return chunkedOverBatch(weightGradUnfold, chunk)(c.b, x, g, a, xs, gs);
  if (twoD && wg === 'slice-gemm') return weightGradSliceGemm(c.b, x, g, a, xs, gs);
  return weightGradTransposed(c.b, x, g, a, xs, gs);
}

/** The shape with a symbolic batch replaced by 0 ("copy" in Reshape); other dims must be static. */
function shapeWithBatch(c: GradContext, v: Value): number[] {
  const s = c.b.facts(v.name)?.shape;
  if (!s || s.slice(1).some((d) => typeof d !== 'number')) unsupported(c, `convolution over '${v.name}' with non-static channel or spatial dims`);
  return [0, ...(s!.slice(1) as number[])];
}

/**
 * The bias gradient: sum of dY over N and space, as a contiguous reduction over [N, M, space] per
 * channel followed by one over N (ORT runs these two ~2x faster than one ReduceSum over axes 0, 2, 3).
 */
const biasGrad = (b: Builder, g: Value): Value => b.reduceSum(b.reduceSum(b.reshape(g, [0, 0, -1]), [2], false), [0], false);

export const Conv: GradRule = (c) => {
  const a = convAttrs(c);
  const g = gy0(c);
  return [
    c.needs[0] ? convInputGrad(c, g, c.x(1), a, c.x(0)) : undefined,
    c.needs[1] ? convWeightGrad(c, c.x(0), g, a) : undefined,
    c.needs[2] ? biasGrad(c.b, g) : undefined,
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
    c.needs[2] ? biasGrad(c.b, g) : undefined,
  ];
};

export { convAttrs, convInputGrad };
export type { ConvAttrs };
