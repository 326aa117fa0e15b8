import { DiffusionError } from '../core/errors';

/** Element types the project reads and writes. float16 is stored as raw bits in a Uint16Array. */
export type DType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
/** A dimension: a size, or a symbolic name such as the batch `N`. */
export type Dim = number | string;
export type Shape = Dim[];

export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array;

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

const FROM_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType {
  const d = FROM_CODE.get(code);
  if (!d) throw new DiffusionError(`unsupported ONNX tensor element type ${code}`);
  return d;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function allocate(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

/** The typed array each dtype is stored in. */
const ARRAY_TYPE: Record<DType, new (n: number) => TypedArray> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A dense tensor: element type, concrete dims and a typed array in row-major order. */
export class Tensor {
  constructor(
    readonly dtype: DType,
    readonly dims: number[],
    readonly data: TypedArray,
  ) {
    const n = numElements(dims);
    if (!(data instanceof ARRAY_TYPE[dtype])) {
      throw new DiffusionError(`${dtype} tensor needs a ${ARRAY_TYPE[dtype].name}, got a ${data.constructor.name}`);
    }
    if (data.length !== n) {
      throw new DiffusionError(`tensor of dims [${dims.join(',')}] needs ${n} elements, got ${data.length}`);
    }
  }

  get size(): number {
    return this.data.length;
  }

  static float32(dims: number[], data?: ArrayLike<number>): Tensor {
    return new Tensor('float32', dims, data ? Float32Array.from(data) : new Float32Array(numElements(dims)));
  }

  static int64(dims: number[], data: ArrayLike<number | bigint>): Tensor {
    const a = new BigInt64Array(data.length);
    for (let i = 0; i < data.length; i++) a[i] = BigInt(data[i]);
    return new Tensor('int64', dims, a);
  }

  static scalar(value: number, dtype: DType = 'float32'): Tensor {
    return Tensor.from(dtype, [], [value]);
  }

  /** A tensor of `dtype` holding `values` as numbers (float16 encoded to bits, bool as 0/1). */
  static from(dtype: DType, dims: number[], values: ArrayLike<number | bigint>): Tensor {
    const a = allocate(dtype, values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (a instanceof BigInt64Array) a[i] = BigInt(v);
      else if (dtype === 'float16') a[i] = floatToHalf(Number(v));
      else if (dtype === 'bool') a[i] = v ? 1 : 0;
      else a[i] = Number(v);
    }
    return new Tensor(dtype, dims, a);
  }

  /** Elements as plain numbers (int64 converted; float16 decoded). */
  toNumbers(): number[] {
    const out = new Array<number>(this.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = this.data[i];
      out[i] = typeof v === 'bigint' ? Number(v) : this.dtype === 'float16' ? halfToFloat(v) : v;
    }
    return out;
  }
}

/** IEEE 754 binary16 bits -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

// one scratch float for floatToHalf's bit view: a new array per call made converting an SD-size
// UNet's 860 M weights take minutes
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** number -> IEEE 754 binary16 bits (round to nearest even). */
export function floatToHalf(v: number): number {
  scratchF32[0] = v;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
