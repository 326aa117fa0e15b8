import * as assert from 'node:assert/strict';
import { Builder, Value } from '../../src/onnx/builder';
import { DType, floatToHalf, Shape, Tensor } from '../../src/onnx/tensor';
import * as ref from '../helpers/ref';
import { Arr } from '../helpers/ref';
import { assertClose, randTensor, runBuilt, toArr } from '../helpers/ort';

/** Batch size fed for the symbolic batch dim `N` every case declares where the op allows it. */
const N = 3;

interface Case {
  /** Declared inputs: name -> [dtype, declared shape (may use 'N'), fed tensor]. */
  inputs: Record<string, Tensor | { shape: Shape; value: Tensor }>;
  build(b: Builder, x: Record<string, Value>): Value | Value[];
  expect(x: Record<string, Arr>): Arr | Arr[];
  tol?: { atol?: number; rtol?: number };
}

/** Declares `inputs` on a fresh builder, builds, runs in ORT, checks shapes and values. */
async function check(c: Case): Promise<void> {
  const b = new Builder();
  const vals: Record<string, Value> = {};
  const feeds: Record<string, Tensor> = {};
  const arrs: Record<string, Arr> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const t = spec instanceof Tensor ? spec : spec.value;
    const shape = spec instanceof Tensor ? t.dims : spec.shape;
    vals[name] = b.input(name, t.dtype, shape);
    feeds[name] = t;
    arrs[name] = toArr(t);
  }
  const built = c.build(b, vals);
  const outs = Array.isArray(built) ? built : [built];
  const got = await runBuilt(b, outs, feeds, { N });
  const want = c.expect(arrs);
  const wants = Array.isArray(want) ? want : [want];
  assert.equal(got.length, wants.length);
  got.forEach((g, i) => assertClose(g, wants[i], c.tol, `output ${i}`));
}

/** A float32 input with symbolic batch: declared ['N', ...rest], fed [3, ...rest]. */
const batched = (rest: number[], seed: number, lo = -1, hi = 1) => ({ shape: ['N', ...rest] as Shape, value: randTensor([N, ...rest], seed, lo, hi) });
const fixed = (dims: number[], seed: number, lo = -1, hi = 1) => randTensor(dims, seed, lo, hi);
const typed = (dtype: DType, dims: number[], data: number[]) =>
  new Tensor(dtype, dims, dtype === 'int64' ? BigInt64Array.from(data.map(BigInt)) : dtype === 'int32' ? Int32Array.from(data) : dtype === 'bool' || dtype === 'uint8' ? Uint8Array.from(data) : Float32Array.from(data));

describe('Builder ops run in ONNX Runtime and match independent references', () => {
  describe('convolution', () => {
    const variants: { name: string; o: ref.ConvOpts; c: number; m: number }[] = [
      { name: 'stride 1, no pads', o: {}, c: 3, m: 4 },
      { name: 'stride 1, pads 1', o: { pads: [1, 1, 1, 1] }, c: 3, m: 4 },
      { name: 'stride 2, asymmetric pads', o: { strides: [2, 2], pads: [1, 0, 0, 1] }, c: 2, m: 3 },
      { name: 'dilation 2, pads 2', o: { dilations: [2, 2], pads: [2, 2, 2, 2] }, c: 2, m: 2 },
      { name: 'groups 2', o: { group: 2, pads: [1, 1, 1, 1] }, c: 4, m: 6 },
    ];
    for (const v of variants) {
      it(`Conv ${v.name}`, () =>
        check({
          inputs: { x: batched([v.c, 7, 6], 1), w: fixed([v.m, v.c / (v.o.group ?? 1), 3, 3], 2), bias: fixed([v.m], 3) },
          build: (b, i) => b.conv(i.x, i.w, i.bias, v.o),
          expect: (a) => ref.conv2d(a.x, a.w, a.bias, v.o),
          tol: { atol: 1e-5 },
        }));
    }
    it('Conv without bias', () =>
      check({
        inputs: { x: batched([2, 5, 5], 4), w: fixed([3, 2, 1, 1], 5) },
        build: (b, i) => b.conv(i.x, i.w, null),
        expect: (a) => ref.conv2d(a.x, a.w, null),
      }));

    const tvariants: { name: string; o: ref.ConvOpts & { outputPadding?: number[] }; c: number; m: number }[] = [
      { name: 'stride 1', o: {}, c: 2, m: 3 },
      { name: 'stride 2, pads 1, output padding 1', o: { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }, c: 3, m: 2 },
      { name: 'dilation 2', o: { dilations: [2, 2] }, c: 2, m: 2 },
      { name: 'groups 2, stride 2', o: { group: 2, strides: [2, 2] }, c: 4, m: 4 },
    ];
    for (const v of tvariants) {
      it(`ConvTranspose ${v.name}`, () =>
        check({
          inputs: { x: batched([v.c, 4, 5], 6), w: fixed([v.c, v.m / (v.o.group ?? 1), 3, 3], 7), bias: fixed([v.m], 8) },
          build: (b, i) => b.convTranspose(i.x, i.w, i.bias, v.o),
          expect: (a) => ref.convTranspose2d(a.x, a.w, a.bias, v.o),
        }));
    }
  });

  describe('linear algebra', () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`Gemm transA=${transA} transB=${transB}, alpha 0.5, beta 2`, () =>
        check({
          inputs: { a: fixed(transA ? [5, 4] : [4, 5], 10), b: fixed(transB ? [3, 5] : [5, 3], 11), c: fixed([3], 12) },
          build: (b, i) => b.gemm(i.a, i.b, i.c, { transA, transB, alpha: 0.5, beta: 2 }),
          expect: (a) => ref.gemm(a.a, a.b, a.c, { transA, transB, alpha: 0.5, beta: 2 }),
        }));
    }
    it('Gemm with symbolic rows and no C', () =>
      check({
        inputs: { a: batched([5], 13), b: fixed([5, 2], 14) },
        build: (b, i) => b.gemm(i.a, i.b, null),
        expect: (a) => ref.gemm(a.a, a.b, null, {}),
      }));
    it('MatMul with batched broadcast [N,1,4,5] x [2,5,3]', () =>
      check({
        inputs: { a: batched([1, 4, 5], 15), b: fixed([2, 5, 3], 16) },
        build: (b, i) => b.matmul(i.a, i.b),
        expect: (a) => ref.matmul(a.a, a.b),
      }));
    it('MatMul of a matrix by a vector', () =>
      check({
        inputs: { a: batched([4], 17), b: fixed([4], 18) },
        build: (b, i) => b.matmul(i.a, i.b),
        expect: (a) => ref.matmul(a.a, a.b),
      }));
  });

  describe('elementwise with numpy broadcasting', () => {
    const binary: [string, (b: Builder, x: Value, y: Value) => Value, (x: number, y: number) => number][] = [
      ['Add', (b, x, y) => b.add(x, y), (x, y) => x + y],
      ['Sub', (b, x, y) => b.sub(x, y), (x, y) => x - y],
      ['Mul', (b, x, y) => b.mul(x, y), (x, y) => x * y],
      ['Div', (b, x, y) => b.div(x, y), (x, y) => x / y],
      ['Min', (b, x, y) => b.min(x, y), Math.min],
      ['Max', (b, x, y) => b.max(x, y), Math.max],
    ];
    for (const [op, build, f] of binary) {
      it(`${op} of [N,1,4] and [3,1]`, () =>
        check({
          inputs: { x: batched([1, 4], 20), y: fixed([3, 1], 21, 0.5, 2) },
          build: (b, i) => build(b, i.x, i.y),
          expect: (a) => ref.map([a.x, a.y], f),
        }));
    }
    it('Pow of positive bases by a broadcast exponent', () =>
      check({
        inputs: { x: batched([2, 3], 22, 0.1, 3), y: fixed([3], 23, -2, 2) },
        build: (b, i) => b.pow(i.x, i.y),
        expect: (a) => ref.map([a.x, a.y], Math.pow),
        tol: { rtol: 1e-5, atol: 1e-6 },
      }));
    it('scale multiplies by a scalar constant', () =>
      check({
        inputs: { x: batched([4], 24) },
        build: (b, i) => b.scale(i.x, -1.5),
        expect: (a) => ref.unary(a.x, (v) => v * -1.5),
      }));

    const unary: [string, (b: Builder, x: Value) => Value, (v: number) => number, number, number][] = [
      ['Sin', (b, x) => b.sin(x), Math.sin, -6, 6],
      ['Cos', (b, x) => b.cos(x), Math.cos, -6, 6],
      ['Sigmoid', (b, x) => b.sigmoid(x), ref.sigmoid, -8, 8],
      ['Tanh', (b, x) => b.tanh(x), Math.tanh, -4, 4],
      ['Erf', (b, x) => b.erf(x), ref.erf, -3, 3],
      ['Exp', (b, x) => b.exp(x), Math.exp, -5, 5],
      ['Log', (b, x) => b.log(x), Math.log, 0.01, 10],
      ['Sqrt', (b, x) => b.sqrt(x), Math.sqrt, 0, 10],
      ['Neg', (b, x) => b.neg(x), (v) => -v, -1, 1],
      ['Abs', (b, x) => b.abs(x), Math.abs, -1, 1],
      ['Reciprocal', (b, x) => b.reciprocal(x), (v) => 1 / v, 0.5, 4],
      ['Relu', (b, x) => b.relu(x), (v) => Math.max(0, v), -1, 1],
      ['LeakyRelu', (b, x) => b.leakyRelu(x, 0.2), (v) => (v < 0 ? 0.2 * v : v), -1, 1],
    ];
    for (const [op, build, f, lo, hi] of unary) {
      it(`${op} on [${lo}, ${hi}]`, () =>
        check({
          inputs: { x: batched([2, 5], 30, lo, hi) },
          build: (b, i) => build(b, i.x),
          expect: (a) => ref.unary(a.x, f),
          tol: { atol: 1e-6, rtol: 1e-5 },
        }));
    }
    it('Erf matches the series to 1e-6 at representative points', () =>
      check({
        inputs: { x: Tensor.float32([9], [-3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.5, 1.5, 3]) },
        build: (b, i) => b.erf(i.x),
        expect: (a) => ref.unary(a.x, ref.erf),
        tol: { atol: 1e-6, rtol: 0 },
      }));
    it('Where picks by a broadcast condition', () =>
      check({
        inputs: { c: typed('bool', [4], [1, 0, 0, 1]), x: batched([2, 4], 31), y: fixed([1], 32) },
        build: (b, i) => b.where(i.c, i.x, i.y),
        expect: (a) => ref.map([a.c, a.x, a.y], (c, x, y) => (c ? x : y)),
      }));
    it('Equal gives bool', () =>
      check({
        inputs: { x: typed('int64', [5], [1, 2, 3, 4, 5]), y: typed('int64', [5], [1, 0, 3, 0, 5]) },
        build: (b, i) => b.equal(i.x, i.y),
        expect: (a) => ref.map([a.x, a.y], (x, y) => (x === y ? 1 : 0)),
      }));
    for (const [lo, hi] of [[-0.5, 0.25], [undefined, 0.1], [-0.2, undefined]] as const) {
      it(`Clip to [${lo}, ${hi}]`, () =>
        check({
          inputs: { x: batched([6], 33) },
          build: (b, i) => b.clip(i.x, lo, hi),
          expect: (a) => ref.unary(a.x, (v) => Math.min(Math.max(v, lo ?? -Infinity), hi ?? Infinity)),
        }));
    }
    it('Cast float32 -> int64 truncates toward zero', () =>
      check({
        inputs: { x: Tensor.float32([6], [-2.7, -1.2, -0.5, 0.5, 1.9, 3]) },
        build: (b, i) => b.cast(i.x, 'int64'),
        expect: (a) => ref.unary(a.x, Math.trunc),
      }));
    it('Cast int64 -> float32 and float32 -> float16', () =>
      check({
        inputs: { x: typed('int64', [3], [-7, 0, 1024]), y: Tensor.float32([3], [0.5, -2, 65504]) },
        build: (b, i) => [b.cast(i.x, 'float32'), b.cast(i.y, 'float16')],
        expect: (a) => [a.x, a.y],
      }));
    it('Clip and scale of a float16 input use float16 constants with the right values', () =>
      check({
        inputs: { x: new Tensor('float16', [5], Uint16Array.from([-3, -0.5, 0, 0.75, 4].map(floatToHalf))) },
        build: (b, i) => [b.clip(i.x, -1, 2.5), b.scale(i.x, 0.5)],
        expect: (a) => [ref.unary(a.x, (v) => Math.min(Math.max(v, -1), 2.5)), ref.unary(a.x, (v) => v * 0.5)],
      }));
    it('constant arrays of float64 and int32 hold their values', () =>
      check({
        inputs: { x: new Tensor('float64', [3], Float64Array.from([1, 2, 3])), y: typed('int32', [3], [1, 2, 3]) },
        build: (b, i) => [b.add(i.x, b.constant([0.25, -1.5, 1e10], 'float64')), b.mul(i.y, b.constant([2, -3, 4], 'int32'))],
        expect: (a) => [ref.map([a.x, ref.arr([3], [0.25, -1.5, 1e10])], (p, q) => p + q), ref.map([a.y, ref.arr([3], [2, -3, 4])], (p, q) => p * q)],
      }));
    it('Identity', () =>
      check({ inputs: { x: batched([2], 34) }, build: (b, i) => b.identity(i.x), expect: (a) => a.x }));
  });

  describe('shape manipulation', () => {
    it('Reshape with 0 (copy) and -1 (infer) keeps the symbolic batch', () =>
      check({
        inputs: { x: batched([4, 6], 40) },
        build: (b, i) => b.reshape(i.x, [0, -1, 3]),
        expect: (a) => ({ shape: [N, 8, 3], data: a.x.data }),
      }));
    it('Reshape to a literal shape', () =>
      check({
        inputs: { x: fixed([2, 3, 4], 41) },
        build: (b, i) => b.reshape(i.x, [4, 6]),
        expect: (a) => ({ shape: [4, 6], data: a.x.data }),
      }));
    for (const axis of [0, 1, 2, -1]) {
      it(`Flatten axis ${axis}`, () =>
        check({
          inputs: { x: batched([2, 5], 42) },
          build: (b, i) => b.flatten(i.x, axis),
          expect: (a) => {
            const r = a.x.shape.length;
            const ax = axis < 0 ? axis + r : axis;
            return { shape: [ref.size(a.x.shape.slice(0, ax)), ref.size(a.x.shape.slice(ax))], data: a.x.data };
          },
        }));
    }
    it('Transpose [N,2,3,4] by [0,2,3,1] and [3,1,0,2]', () =>
      check({
        inputs: { x: batched([2, 3, 4], 43) },
        build: (b, i) => [b.transpose(i.x, [0, 2, 3, 1]), b.transpose(i.x, [3, 1, 0, 2])],
        expect: (a) => [ref.transpose(a.x, [0, 2, 3, 1]), ref.transpose(a.x, [3, 1, 0, 2])],
      }));
    it('Concat on axis 1 and on axis -1', () =>
      check({
        inputs: { x: batched([2, 3], 44), y: batched([1, 3], 45), z: batched([2, 2], 46) },
        build: (b, i) => [b.concat([i.x, i.y], 1), b.concat([i.x, i.z], -1)],
        expect: (a) => [ref.concat([a.x, a.y], 1), ref.concat([a.x, a.z], -1)],
      }));
    it('Split into unequal parts on axis 1', () =>
      check({
        inputs: { x: batched([6, 2], 47) },
        build: (b, i) => b.split(i.x, [1, 2, 3], 1),
        expect: (a) => ref.split(a.x, [1, 2, 3], 1),
      }));
    const slices: [string, number[], number[], number[] | undefined, number[] | undefined][] = [
      ['positive bounds', [1], [3], [1], undefined],
      ['negative start and end', [-3], [-1], [2], undefined],
      ['step 2', [0, 1], [5, 6], [1, 2], [2, 2]],
      ['negative step reverses', [-1], [-1000], [1], [-1]],
      ['step -2 from 4', [4], [0], [2], [-2]],
      ['end past the dim (INT64_MAX style)', [2], [2 ** 40], [1], undefined],
      ['default axes', [0, 1], [2, 4], undefined, undefined],
    ];
    for (const [name, starts, ends, axes, steps] of slices) {
      it(`Slice ${name}`, () =>
        check({
          inputs: { x: batched([5, 6], 48) },
          build: (b, i) => b.slice(i.x, starts, ends, axes, steps),
          expect: (a) => ref.slice(a.x, starts, ends, axes, steps),
        }));
    }
    it('Squeeze named axes and Unsqueeze at both ends', () =>
      check({
        inputs: { x: batched([1, 4, 1], 49) },
        build: (b, i) => [b.squeeze(i.x, [1, -1]), b.unsqueeze(i.x, [0, -1])],
        expect: (a) => [{ shape: [N, 4], data: a.x.data }, { shape: [1, N, 1, 4, 1, 1], data: a.x.data }],
      }));
    it('Squeeze without axes drops every 1', () =>
      check({
        inputs: { x: fixed([1, 3, 1, 2], 50) },
        build: (b, i) => b.squeeze(i.x),
        expect: (a) => ({ shape: [3, 2], data: a.x.data }),
      }));
    it('Expand [3,1] to [2,3,4] and [N,1] to [N,5]', () =>
      check({
        inputs: { x: fixed([3, 1], 51), y: batched([1], 52) },
        build: (b, i) => [b.expand(i.x, [2, 3, 4]), b.expand(i.y, [1, 5])],
        expect: (a) => [ref.expand(a.x, [2, 3, 4]), ref.expand(a.y, [N, 5])],
      }));
    it('Gather on axis 0 and axis 1 with negative indices', () =>
      check({
        inputs: { x: batched([5], 53), table: fixed([6, 3], 54), idx: typed('int64', [2, 2], [0, -1, 2, 1]) },
        build: (b, i) => [b.gather(i.table, i.idx, 0), b.gather(i.x, i.idx, 1)],
        expect: (a) => [ref.gather(a.table, a.idx, 0), ref.gather(a.x, a.idx, 1)],
      }));
    for (const mode of ['constant', 'reflect', 'edge'] as const) {
      it(`Pad ${mode}`, () =>
        check({
          inputs: { x: batched([2, 4, 5], 55) },
          build: (b, i) => b.pad(i.x, [0, 0, 1, 2, 0, 1, 2, 1], 0.75, mode),
          expect: (a) => ref.pad(a.x, [0, 0, 1, 2, 0, 1, 2, 1], 0.75, mode),
        }));
    }
    it('Resize nearest x2', () =>
      check({
        inputs: { x: batched([2, 3, 4], 56) },
        build: (b, i) => b.resizeNearest(i.x, [1, 1, 2, 2]),
        expect: (a) => ref.resizeNearest(a.x, [1, 1, 2, 2]),
      }));
    it('Shape gives the runtime dims', () =>
      check({
        inputs: { x: batched([2, 7], 57) },
        build: (b, i) => [b.shapeOf(i.x), b.shapeOf(i.x, 1)],
        expect: () => [{ shape: [3], data: [N, 2, 7] }, { shape: [2], data: [2, 7] }],
      }));
  });

  describe('reductions and normalisation', () => {
    for (const keepdims of [true, false]) {
      for (const axes of [[1], [-1, 1], [0, 2]]) {
        it(`ReduceMean and ReduceSum over [${axes}] keepdims ${keepdims}`, () =>
          check({
            inputs: { x: batched([4, 5], 60) },
            build: (b, i) => [b.reduceMean(i.x, axes, keepdims), b.reduceSum(i.x, axes, keepdims)],
            expect: (a) => [ref.reduce(a.x, axes, keepdims, 'mean'), ref.reduce(a.x, axes, keepdims, 'sum')],
          }));
      }
    }
    for (const axis of [-1, 1, 0]) {
      it(`Softmax axis ${axis}`, () =>
        check({
          inputs: { x: batched([3, 4], 61, -4, 4) },
          build: (b, i) => b.softmax(i.x, axis),
          expect: (a) => ref.softmax(a.x, axis),
          tol: { atol: 1e-6 },
        }));
    }
    it('LogSoftmax on the last axis', () =>
      check({
        inputs: { x: batched([5], 62, -4, 4) },
        build: (b, i) => b.logSoftmax(i.x),
        expect: (a) => ref.unary(ref.softmax(a.x, -1), Math.log),
      }));
    it('InstanceNormalization', () =>
      check({
        inputs: { x: batched([3, 4, 5], 63, -2, 3), s: fixed([3], 64), bias: fixed([3], 65) },
        build: (b, i) => b.instanceNorm(i.x, i.s, i.bias, 1e-5),
        expect: (a) => ref.instanceNorm(a.x, a.s, a.bias, 1e-5),
        tol: { atol: 1e-5, rtol: 1e-4 },
      }));
    for (const axis of [-1, 1]) {
      it(`LayerNormalization axis ${axis}`, () =>
        check({
          inputs: { x: batched([4, 6], 66, -2, 3), s: fixed(axis === -1 ? [6] : [4, 6], 67), bias: fixed(axis === -1 ? [6] : [4, 6], 68) },
          build: (b, i) => b.layerNorm(i.x, i.s, i.bias, axis, 1e-5),
          expect: (a) => ref.layerNorm(a.x, a.s, a.bias, axis, 1e-5),
          tol: { atol: 1e-5, rtol: 1e-4 },
        }));
    }
    it('LayerNormalization without bias', () =>
      check({
        inputs: { x: batched([8], 69), s: fixed([8], 70) },
        build: (b, i) => b.layerNorm(i.x, i.s, null),
        expect: (a) => ref.layerNorm(a.x, a.s, null, -1, 1e-5),
        tol: { atol: 1e-5, rtol: 1e-4 },
      }));
    const pools: { name: string; o: { kernel: number[]; strides?: number[]; pads?: number[]; countIncludePad?: boolean } }[] = [
      { name: '2x2 stride 2', o: { kernel: [2, 2], strides: [2, 2] } },
      { name: '3x3 stride 1 pads 1', o: { kernel: [3, 3], pads: [1, 1, 1, 1] } },
      { name: '3x3 stride 2 pads 1 counting pads', o: { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true } },
    ];
    for (const p of pools) {
      it(`AveragePool and MaxPool ${p.name}`, () =>
        check({
          inputs: { x: batched([2, 6, 7], 71) },
          build: (b, i) => [b.averagePool(i.x, p.o), b.maxPool(i.x, p.o)],
          expect: (a) => [ref.pool2d(a.x, 'avg', p.o), ref.pool2d(a.x, 'max', p.o)],
        }));
    }
  });

  describe('control flow', () => {
    for (const K of [1, 5]) {
      it(`Loop adds a tensor ${K} times`, () =>
        check({
          inputs: { x: batched([4], 80) },
          build: (b, i) => {
            const body = b.subgraph('body');
            body.input('iter', 'int64', []);
            const cond = body.input('cond_in', 'bool', []);
            const acc = body.input('acc_in', 'float32', ['N', 4]);
            const x = body.adopt(i.x);
            body.output(body.identity(cond), 'cond_out');
            body.output(body.add(acc, x), 'acc_out');
            const zero = b.mul(i.x, b.constant(0));
            return b.loop(b.constant(K, 'int64'), null, [zero], body.graph)[0];
          },
          expect: (a) => ref.unary(a.x, (v) => {
            let s = 0;
            for (let k = 0; k < K; k++) s = Math.fround(s + v);
            return s;
          }),
        }));
    }
  });
});
