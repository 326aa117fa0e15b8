/**
 * NumPy .npy files (format versions 1.0-3.0, https://numpy.org/neps/nep-0001-npy-format.html):
 * magic `\x93NUMPY`, version, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), a
 * Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with
 * spaces to a multiple of 64 bytes, then the C-order data. The header is parsed by its grammar
 * (parsePyLiteral), never by regex. Hand-written: the npm readers (npyjs) read only and pull in a
 * fetch polyfill. Pure (bytes in, bytes out); npy-file.ts reads files.
 */
import { DiffusionError, FileFormatError } from '../core/errors';

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

/** A malformed .npy file: names the file and, where one is at fault, the header key. */
export class NpyError extends FileFormatError {
  constructor(readonly file: string, readonly key: string | undefined, problem: string) {
    super(file, `not a readable .npy file: ${key ? `header key '${key}': ` : ''}${problem}`);
    this.name = 'NpyError';
  }
}

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

/**
 * The header is a Python literal: a dict of string keys whose values are strings, booleans,
 * integers or tuples (numpy writes it with repr(); format.py reads it with ast.literal_eval).
 * This is a recursive-descent parser for that subset, so a `'descr'` inside another key's string
 * value is a string, not the dtype.
 *   dict  := '{' (str ':' value (',' str ':' value)* ','?)? '}'
 *   value := str | int | 'True' | 'False' | 'None' | tuple | list | dict
 *   tuple := '(' (value (',' value)* ','?)? ')'     list := '[' ... ']'
 *   str   := '...' | "..." (backslash escapes)
 */
export function parsePyLiteral(text: string, fail: (why: string) => never): PyValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const at = () => `at offset ${i}`;
  const value = (depth: number): PyValue => {
    if (depth > 32) fail(`nested too deeply ${at()}`);
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (c === '{') return dict(depth);
    if (c === '(' || c === '[') return seq(c === '(' ? ')' : ']', depth);
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i, i + 40));
    if (!m) fail(`unexpected ${c === undefined ? 'end of header' : `'${c}'`} ${at()}`);
    i += m[0].length;
    return m[0] === 'True' ? true : m[0] === 'False' ? false : m[0] === 'None' ? null : Number(m[0].replace('L', ''));
  };
  const str = (): string => {
    const q = text[i++];
    let out = '';
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') i++;
      out += text[i++] ?? '';
    }
    if (text[i] !== q) fail(`unterminated string ${at()}`);
    i++;
    return out;
  };
  const seq = (close: string, depth: number): PyValue[] => {
    i++;
    const out: PyValue[] = [];
    for (;;) {
      ws();
      if (text[i] === close) return i++, out;
      out.push(value(depth + 1));
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== close) fail(`expected ',' or '${close}' ${at()}`);
    }
  };
  const dict = (depth: number): { [k: string]: PyValue } => {
    i++;
    const out: { [k: string]: PyValue } = {};
    for (;;) {
      ws();
      if (text[i] === '}') return i++, out;
      if (text[i] !== "'" && text[i] !== '"') fail(`expected a string key ${at()}`);
      const k = str();
      ws();
      if (text[i++] !== ':') fail(`expected ':' after '${k}' ${at()}`);
      if (Object.prototype.hasOwnProperty.call(out, k)) fail(`key '${k}' given twice`);
      out[k] = value(depth + 1);
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail(`expected ',' or '}' ${at()}`);
    }
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail(`unexpected text after the header dict ${at()}`);
  return v;
}

/** Parses .npy bytes; `source` names the file in errors. */
export function decodeNpy(bytes: Uint8Array, source = '.npy'): NpyArray {
  const fail = (why: string, key?: string): never => {
    throw new NpyError(source, key, why);
  };
  if (bytes.length < 10 || !MAGIC.every((m, i) => bytes[i] === m)) fail('bad magic (expected \\x93NUMPY)');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`format version ${major}.${bytes[7]} (expected 1.0 to 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) fail('truncated header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLen > bytes.length) fail('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const dict = parsePyLiteral(header, (why) => fail(`header is not a Python dict literal: ${why}`));
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict)) fail('header is not a dict');
  const h = dict as { [k: string]: PyValue };
  for (const k of ['descr', 'fortran_order', 'shape']) if (!(k in h)) fail('missing', k);
  const extra = Object.keys(h).filter((k) => !['descr', 'fortran_order', 'shape'].includes(k));
  if (extra.length > 0) fail(`not a .npy header key (expected descr, fortran_order, shape)`, extra[0]);
  const descr = h.descr;
  if (typeof descr !== 'string') fail('expected a dtype string such as \'<f4\' (structured dtypes are not supported)', 'descr');
  if (typeof h.fortran_order !== 'boolean') fail('expected True or False', 'fortran_order');
  if (h.fortran_order) fail('Fortran-order arrays are not supported (save with np.ascontiguousarray)', 'fortran_order');
  const shapeV = h.shape;
  if (!Array.isArray(shapeV) || shapeV.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    fail('expected a tuple of non-negative integers', 'shape');
  }
  const shape = shapeV as number[];
  const d = descr as string;
  const order = d[0];
  if (!'<>|='.includes(order)) fail(`byte order '${order}' in dtype '${d}'`, 'descr');
  const kind = DESCR[d.slice(1)] ?? fail(`dtype '${d}' is not supported (float32, float64, int64, int32, int16, int8, uint8, bool)`, 'descr');
  const n = shape.reduce((p, x) => p * x, 1);
  const offset = start + headerLen;
  if (!(n * kind.bytes <= bytes.length - offset)) fail(`data has ${bytes.length - offset} bytes, the shape promises ${n * kind.bytes}`, 'shape');
  // A copy (Buffer.slice would be a view into Node's pool), aligned for the typed array; big-endian data byte-swapped.
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
  if (a.data.length !== n) throw new DiffusionError(`encodeNpy: shape [${a.shape.join(', ')}] needs ${n} values, got ${a.data.length}`);
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
