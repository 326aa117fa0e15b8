import * as assert from 'node:assert/strict';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { tensorFromProto, tensorToProto } from '../../src/onnx/proto';
import { DType, floatToHalf, halfToFloat, ONNX_DTYPE, Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { fromOrt, toOrt } from '../../src/runtime/ort-tensor';
import { TP, Wire } from '../helpers/protowire';

/** One representative tensor per dtype, with edge values (negatives, extremes, int64 beyond 2^53). */
const SAMPLES: Record<DType, Tensor> = {
  float32: new Tensor('float32', [2, 3], Float32Array.from([0, -0, 1.5, -3.25e-20, 3.4e38, Math.fround(Math.PI)])),
  float16: new Tensor('float16', [4], Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x7bff])),
  float64: new Tensor('float64', [3], Float64Array.from([Math.PI, -1e300, 5e-324])),
  int64: new Tensor('int64', [5], BigInt64Array.from([0n, -1n, 2n ** 53n + 1n, -(2n ** 62n) - 7n, 2n ** 63n - 1n])),
  int32: new Tensor('int32', [3], Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1])),
  int8: new Tensor('int8', [4], Int8Array.from([-128, -1, 0, 127])),
  uint8: new Tensor('uint8', [3], Uint8Array.from([0, 128, 255])),
  bool: new Tensor('bool', [2, 2], Uint8Array.from([1, 0, 0, 1])),
};

function assertSameTensor(a: Tensor, b: Tensor, what: string): void {
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(a.dims, b.dims, `${what}: dims`);
  assert.equal(a.data.constructor, b.data.constructor, `${what}: array type`);
  assert.deepEqual(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength), Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), `${what}: bytes`);
}

/** TensorProto bytes -> Tensor through protobufjs decoding, as a file read would. */
const decodeTensor = (bytes: Uint8Array) => tensorFromProto(onnx.TensorProto.decode(bytes));

describe('Tensor <-> TensorProto', () => {
  for (const [dtype, t] of Object.entries(SAMPLES)) {
    it(`${dtype} round-trips through raw_data and protobuf bytes`, () => {
      const bytes = onnx.TensorProto.encode(tensorToProto(t, 'w')).finish();
      assertSameTensor(decodeTensor(bytes), t, dtype);
    });
    it(`${dtype} round-trips as a scalar and as an empty tensor`, () => {
      const scalar = new Tensor(t.dtype, [], t.data.slice(1, 2));
      assertSameTensor(decodeTensor(onnx.TensorProto.encode(tensorToProto(scalar)).finish()), scalar, `${dtype} scalar`);
      const empty = new Tensor(t.dtype, [0, 3], t.data.slice(0, 0));
      assertSameTensor(decodeTensor(onnx.TensorProto.encode(tensorToProto(empty)).finish()), empty, `${dtype} empty`);
    });
  }

  it('tensorToProto copes with a view into a larger buffer', () => {
    const big = Float32Array.from([9, 1, 2, 3, 9]);
    const t = new Tensor('float32', [3], big.subarray(1, 4));
    assert.deepEqual(decodeTensor(onnx.TensorProto.encode(tensorToProto(t)).finish()).toNumbers(), [1, 2, 3]);
  });

  describe('decodes the non-raw forms other tools write', () => {
    it('float_data', () => {
      const bytes = new Wire().packedInts(TP.dims, [2, 2]).int(TP.dataType, ONNX_DTYPE.float32).packedFloats(TP.floatData, [1, -2.5, 3e-8, 65536]).finish();
      assertSameTensor(decodeTensor(bytes), new Tensor('float32', [2, 2], Float32Array.from([1, -2.5, 3e-8, 65536])), 'float_data');
    });
    it('int64_data with values beyond 2^53 and negatives, packed and unpacked', () => {
      const values = [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 3n, 2n ** 63n - 1n, -(2n ** 63n)];
      const want = new Tensor('int64', [7], BigInt64Array.from(values));
      const packed = new Wire().packedInts(TP.dims, [7]).int(TP.dataType, ONNX_DTYPE.int64).packedInts(TP.int64Data, values).finish();
      assertSameTensor(decodeTensor(packed), want, 'packed int64_data');
      const unpacked = new Wire().int(TP.dims, 7).int(TP.dataType, ONNX_DTYPE.int64).repeatedInts(TP.int64Data, values).finish();
      assertSameTensor(decodeTensor(unpacked), want, 'unpacked int64_data');
    });
    const int32Forms: [DType, number[], Tensor][] = [
      ['int32', [-(2 ** 31), -5, 0, 2 ** 31 - 1], new Tensor('int32', [4], Int32Array.from([-(2 ** 31), -5, 0, 2 ** 31 - 1]))],
      ['int8', [-128, -1, 0, 127], new Tensor('int8', [4], Int8Array.from([-128, -1, 0, 127]))],
      ['uint8', [0, 1, 128, 255], new Tensor('uint8', [4], Uint8Array.from([0, 1, 128, 255]))],
      ['bool', [1, 0, 1, 1], new Tensor('bool', [4], Uint8Array.from([1, 0, 1, 1]))],
      ['float16', [0x3c00, 0xc000, 0x7bff, 0x8001], new Tensor('float16', [4], Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x8001]))],
    ];
    for (const [dtype, values, want] of int32Forms) {
      it(`int32_data for ${dtype}`, () => {
        const bytes = new Wire().packedInts(TP.dims, [4]).int(TP.dataType, ONNX_DTYPE[dtype]).packedInts(TP.int32Data, values).finish();
        assertSameTensor(decodeTensor(bytes), want, dtype);
      });
    }
    it('double_data', () => {
      const bytes = new Wire().packedInts(TP.dims, [3]).int(TP.dataType, ONNX_DTYPE.float64).packedDoubles(TP.doubleData, [Math.E, -1e-310, 1e300]).finish();
      assertSameTensor(decodeTensor(bytes), new Tensor('float64', [3], Float64Array.from([Math.E, -1e-310, 1e300])), 'double_data');
    });
    it('a scalar (no dims) in float_data and an empty tensor (a 0 dim) with no data', () => {
      const scalar = new Wire().int(TP.dataType, ONNX_DTYPE.float32).packedFloats(TP.floatData, [3.5]).finish();
      assertSameTensor(decodeTensor(scalar), new Tensor('float32', [], Float32Array.from([3.5])), 'scalar');
      const empty = new Wire().packedInts(TP.dims, [4, 0]).int(TP.dataType, ONNX_DTYPE.int64).finish();
      assertSameTensor(decodeTensor(empty), new Tensor('int64', [4, 0], new BigInt64Array(0)), 'empty');
    });
    it('rejects data that does not match the dims, naming the tensor', () => {
      const bytes = new Wire().packedInts(TP.dims, [3]).int(TP.dataType, ONNX_DTYPE.float32).string(TP.name, 'w.bad').packedFloats(TP.floatData, [1, 2]).finish();
      assert.throws(() => decodeTensor(bytes), /w\.bad.*2 elements.*need 3/);
      const raw = new Wire().packedInts(TP.dims, [3]).int(TP.dataType, ONNX_DTYPE.float32).string(TP.name, 'w.raw').bytesField(TP.rawData, new Uint8Array(8)).finish();
      assert.throws(() => decodeTensor(raw), /w\.raw.*8 bytes.*need 12/);
    });
    it('rejects dims that need more than 2^31 elements without allocating', () => {
      const bytes = new Wire().packedInts(TP.dims, [65536, 65536]).int(TP.dataType, ONNX_DTYPE.float32).string(TP.name, 'huge').finish();
      assert.throws(() => decodeTensor(bytes), /huge.*more than 2\^31/);
    });
  });
});

describe('float16 conversions', () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [0.1, 0x2e66], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [65519, 0x7bff], [65520, 0x7c00],
    [1e6, 0x7c00], [2 ** -26, 0x0000], [3 * 2 ** -26, 0x0001], [-1e-9, 0x8000],
  ];
  for (const [v, bits] of cases) {
    it(`floatToHalf(${v}) = 0x${bits.toString(16).padStart(4, '0')}`, () => assert.equal(floatToHalf(v), bits));
  }
  it('NaN maps to a half NaN and back', () => {
    const h = floatToHalf(NaN);
    assert.equal(h & 0x7c00, 0x7c00);
    assert.notEqual(h & 0x3ff, 0);
    assert.ok(Number.isNaN(halfToFloat(h)));
  });
  it('every non-NaN half survives halfToFloat then floatToHalf', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (Number.isNaN(v)) continue;
      if (floatToHalf(v) !== h) assert.fail(`0x${h.toString(16)} -> ${v} -> 0x${floatToHalf(v).toString(16)}`);
    }
  });
  it('halfToFloat agrees with an independent decoding by exponent and mantissa', () => {
    for (let h = 0; h < 0x10000; h += 7) {
      const e = (h >> 10) & 31;
      const m = h & 1023;
      if (e === 31) continue;
      const mag = e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
      assert.equal(halfToFloat(h), h & 0x8000 ? -mag : mag);
    }
  });
});

describe('Tensor <-> ONNX Runtime tensors', () => {
  for (const [dtype, t] of Object.entries(SAMPLES)) {
    it(`${dtype}: toOrt/fromOrt round trip and through an ORT Identity session`, async () => {
      assertSameTensor(fromOrt(toOrt(ort, t)), t, `${dtype} toOrt/fromOrt`);
      const b = new Builder();
      const x = b.input('x', t.dtype, t.dims);
      b.output(b.identity(x), 'y');
      const s = await NodeSession.create(newModel(b.graph));
      const out = (await s.run({ x: t })).y;
      await s.release();
      assertSameTensor(out, t, `${dtype} through ORT`);
    });
  }
});
