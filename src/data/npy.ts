/**
 * NumPy .npy files (format versions 1.0-3.0, https://numpy.org/neps/nep-0001-npy-format.html):
 * magic `\x93NUMPY`, version, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), a
 * Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with
 * spaces to a multiple of 64 bytes, then the C-order data. Hand-written: the npm readers (npyjs)
 * read only and pull in a fetch polyfill; this is 100 lines. Pure (bytes in, bytes out).
 */
import { FileFormatError } from '../core/errors';

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** descr (without byte order) -> our dtype, bytes per element, typed-array constructor. */
const DESCR: Record<string, { dtype: NpyDtype; bytes: number; make: (buf: ArrayBuffer, n: number) => NpyData }> = {
  f4: { dtype: 'float32', bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  f8: { dtype: 'float64', bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  i8: { dtype: 'int64', bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  i4: { dtype: 'int32', bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  i2: { dtype: 'int16', bytes: 2, make: (b, n) => new Int16Array(b, 0, n) },
  i1: { dtype: 'int8', bytes: 1, make: (b, n) => new Int8Array(b, 0, n) },
  u1: { dtype: 'uint8', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  b1: { dtype: 'bool', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

/** Parses .npy bytes; `source` names the file in errors. */
export function decodeNpy(bytes: Uint8Array, source = '.npy'): NpyArray {
  const fail = (why: string): never => {
    throw new FileFormatError(source, `not a readable .npy file: ${why}`);
  };
  if (bytes.length < 10 || !MAGIC.every((m, i) => bytes[i] === m)) fail('bad magic (expected \\x93NUMPY)');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`format version ${major}.${bytes[7]} (expected 1.0 to 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) fail('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1] ?? fail(`no 'descr' in header ${header.trim()}`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1] ?? fail("no 'fortran_order' in header");
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail("no 'shape' in header");
  if (fortran === 'True') fail('Fortran-order arrays are not supported (save with np.ascontiguousarray)');
  const shape = shapeText.split(',').map((d) => d.trim()).filter((d) => d !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape (${shapeText})`);
  const order = descr[0];
  const kind = DESCR[descr.slice(1)] ?? fail(`dtype '${descr}' is not supported (float32, float64, int64, int32, int16, int8, uint8, bool)`);
  const n = shape.reduce((p, d) => p * d, 1);
  const offset = start + headerLen;
  if (bytes.length - offset < n * kind.bytes) fail(`data has ${bytes.length - offset} bytes, the header promises ${n * kind.bytes}`);
  // Copy into an aligned buffer; swap bytes of big-endian data.
  if (!'<>|='.includes(order)) fail(`byte order '${order}' in dtype '${descr}'`);
  // A copy (Buffer.slice would be a view into Node's pool), aligned for the typed array.
  const raw = new Uint8Array(bytes.subarray(offset, offset + n * kind.bytes));
  if (order === '>' && kind.bytes > 1) for (let i = 0; i < raw.length; i += kind.bytes) raw.subarray(i, i + kind.bytes).reverse();
  return { dtype: kind.dtype, shape, data: kind.make(raw.buffer, n) };
}

/** The array's values as float32 (int64 ids convert exactly up to 2^24). */
export function npyToFloat32(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  if (a.data instanceof BigInt64Array) return Float32Array.from(a.data, (v) => Number(v));
  return Float32Array.from(a.data as ArrayLike<number>);
}

const WRITE: Partial<Record<NpyDtype, string>> = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int16: '<i2', int8: '|i1', uint8: '|u1', bool: '|b1',
};

/** Encodes a C-order array as .npy version 1.0 (header padded so the data starts at a multiple of 64). */
export function encodeNpy(a: NpyArray): Uint8Array {
  const n = a.shape.reduce((p, d) => p * d, 1);
  if (a.data.length !== n) throw new Error(`encodeNpy: shape [${a.shape.join(', ')}] needs ${n} values, got ${a.data.length}`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${WRITE[a.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const data = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(10 + header.length + data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(data, 10 + header.length);
  return out;
}
