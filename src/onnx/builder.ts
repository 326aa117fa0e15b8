import { BuilderCore, Value } from './builder-core';
import { DType, ONNX_DTYPE } from './tensor';
import { Graph } from './ir';

export type { Value, Init, AttrInput } from './builder-core';

export interface ConvOptions {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number[];
  outputShape?: number[];
}

export interface PoolOptions {
  kernel: number[];
  strides?: number[];
  pads?: number[];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

/** Typed helpers, one per ONNX op the project emits (opset 17 signatures). */
export class Builder extends BuilderCore {
  // ---- elementwise binary (numpy broadcasting)
  add(a: Value, b: Value): Value { return this.op('Add', [a, b]); }
  sub(a: Value, b: Value): Value { return this.op('Sub', [a, b]); }
  mul(a: Value, b: Value): Value { return this.op('Mul', [a, b]); }
  div(a: Value, b: Value): Value { return this.op('Div', [a, b]); }
  pow(a: Value, b: Value): Value { return this.op('Pow', [a, b]); }
  min(...xs: Value[]): Value { return this.op('Min', xs); }
  max(...xs: Value[]): Value { return this.op('Max', xs); }
  equal(a: Value, b: Value): Value { return this.op('Equal', [a, b]); }
  where(cond: Value, x: Value, y: Value): Value { return this.op('Where', [cond, x, y]); }
  /** Multiplies by a float32 scalar constant. */
  scale(a: Value, s: number): Value { return this.mul(a, this.constant(s, a.dtype)); }

  // ---- elementwise unary
  neg(x: Value): Value { return this.op('Neg', [x]); }
  sqrt(x: Value): Value { return this.op('Sqrt', [x]); }
  exp(x: Value): Value { return this.op('Exp', [x]); }
  log(x: Value): Value { return this.op('Log', [x]); }
  sin(x: Value): Value { return this.op('Sin', [x]); }
  cos(x: Value): Value { return this.op('Cos', [x]); }
  abs(x: Value): Value { return this.op('Abs', [x]); }
  reciprocal(x: Value): Value { return this.op('Reciprocal', [x]); }
  sigmoid(x: Value): Value { return this.op('Sigmoid', [x]); }
  tanh(x: Value): Value { return this.op('Tanh', [x]); }
  erf(x: Value): Value { return this.op('Erf', [x]); }
  relu(x: Value): Value { return this.op('Relu', [x]); }
  leakyRelu(x: Value, alpha = 0.01): Value { return this.op('LeakyRelu', [x], { alpha }); }
  identity(x: Value): Value { return this.op('Identity', [x]); }
  cast(x: Value, to: DType): Value { return this.op('Cast', [x], { to: ONNX_DTYPE[to] }); }
  clip(x: Value, min?: number, max?: number): Value {
    const lo = min === undefined ? null : this.constant(min, x.dtype);
    const hi = max === undefined ? null : this.constant(max, x.dtype);
    return this.op('Clip', [x, lo, hi]);
  }
  softmax(x: Value, axis = -1): Value { return this.op('Softmax', [x], { axis }); }
  logSoftmax(x: Value, axis = -1): Value { return this.op('LogSoftmax', [x], { axis }); }

  // ---- linear algebra and convolution
  matmul(a: Value, b: Value): Value { return this.op('MatMul', [a, b]); }
  gemm(a: Value, b: Value, c: Value | null, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Value {
    return this.op('Gemm', [a, b, c], { transA: o.transA ? 1 : undefined, transB: o.transB ? 1 : undefined, alpha: o.alpha, beta: o.beta });
  }
  conv(x: Value, w: Value, bias: Value | null, o: ConvOptions = {}): Value {
    return this.op('Conv', [x, w, bias], {
      kernel_shape: w.shape.slice(2) as number[],
      strides: o.strides, pads: o.pads, dilations: o.dilations, group: o.group,
    });
  }
  convTranspose(x: Value, w: Value, bias: Value | null, o: ConvTransposeOptions = {}): Value {
    return this.op('ConvTranspose', [x, w, bias], {
      kernel_shape: w.shape.slice(2) as number[],
      strides: o.strides, pads: o.pads, dilations: o.dilations, group: o.group,
      output_padding: o.outputPadding, output_shape: o.outputShape,
    });
  }
  einsum(equation: string, ...xs: Value[]): Value { return this.op('Einsum', xs, { equation }); }

  // ---- shape manipulation
  reshape(x: Value, shape: number[] | Value): Value {
    return this.op('Reshape', [x, Array.isArray(shape) ? this.ints(shape, 'shape') : shape]);
  }
  flatten(x: Value, axis = 1): Value { return this.op('Flatten', [x], { axis }); }
  transpose(x: Value, perm: number[]): Value { return this.op('Transpose', [x], { perm }); }
  concat(xs: Value[], axis: number): Value { return this.op('Concat', xs, { axis }); }
  split(x: Value, sizes: number[], axis = 0): Value[] {
    return this.node('Split', [x, this.ints(sizes, 'split')], { axis }, sizes.length);
  }
  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    return this.op('Slice', [x, this.ints(starts, 'starts'), this.ints(ends, 'ends'), axes ? this.ints(axes, 'axes') : null, steps ? this.ints(steps, 'steps') : null]);
  }
  squeeze(x: Value, axes?: number[]): Value { return this.op('Squeeze', [x, axes ? this.ints(axes, 'axes') : null]); }
  unsqueeze(x: Value, axes: number[]): Value { return this.op('Unsqueeze', [x, this.ints(axes, 'axes')]); }
  expand(x: Value, shape: number[] | Value): Value {
    return this.op('Expand', [x, Array.isArray(shape) ? this.ints(shape, 'shape') : shape]);
  }
  shapeOf(x: Value, start?: number, end?: number): Value { return this.op('Shape', [x], { start, end }); }
  gather(data: Value, indices: Value, axis = 0): Value { return this.op('Gather', [data, indices], { axis }); }
  pad(x: Value, pads: number[], value = 0, mode: 'constant' | 'reflect' | 'edge' = 'constant'): Value {
    return this.op('Pad', [x, this.ints(pads, 'pads'), this.constant(value, x.dtype)], { mode });
  }
  /** Nearest-neighbour resize by per-axis scales (e.g. [1, 1, 2, 2]). */
  resizeNearest(x: Value, scales: number[]): Value {
    return this.op('Resize', [x, null, this.constant(scales, 'float32', 'scales')], {
      mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
    });
  }

  // ---- reductions and normalisation
  reduceMean(x: Value, axes: number[], keepdims = true): Value {
    return this.op('ReduceMean', [x], { axes, keepdims: keepdims ? 1 : 0 });
  }
  reduceSum(x: Value, axes: number[], keepdims = true): Value {
    return this.op('ReduceSum', [x, this.ints(axes, 'axes')], { keepdims: keepdims ? 1 : 0 });
  }
  instanceNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5): Value {
    return this.op('InstanceNormalization', [x, scale, bias], { epsilon });
  }
  layerNorm(x: Value, scale: Value, bias: Value | null, axis = -1, epsilon = 1e-5): Value {
    return this.op('LayerNormalization', [x, scale, bias], { axis, epsilon });
  }
  averagePool(x: Value, o: PoolOptions): Value {
    return this.op('AveragePool', [x], { kernel_shape: o.kernel, strides: o.strides, pads: o.pads, ceil_mode: o.ceilMode ? 1 : undefined, count_include_pad: o.countIncludePad ? 1 : undefined });
  }
  maxPool(x: Value, o: PoolOptions): Value {
    return this.op('MaxPool', [x], { kernel_shape: o.kernel, strides: o.strides, pads: o.pads, ceil_mode: o.ceilMode ? 1 : undefined });
  }

  // ---- control flow
  /**
   * ONNX Loop. `body` receives (iteration, cond, ...carried) as graph inputs and must output
   * (cond, ...carried, ...scanOutputs). Build it with `Builder.subgraph`.
   */
  loop(tripCount: Value | null, cond: Value | null, carried: Value[], body: Graph, nScan = 0): Value[] {
    return this.node('Loop', [tripCount, cond, ...carried], { body }, carried.length + nScan);
  }

  /** A fresh builder for a subgraph (Loop/If body) sharing this builder's seed stream. */
  subgraph(name: string): Builder {
    const g = new Graph();
    g.name = name;
    return new Builder(g, { seed: this.rng.nextU32() });
  }
}
