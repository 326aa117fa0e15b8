/**
 * safetensors files (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
 * header size, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}}`, then the raw little-endian data. Used for LoRA adapter files. Hand-written:
 * the npm package `safetensors` is a 0.0.1 placeholder; the format is 60 lines. Pure (bytes).
 */
import { FileFormatError } from '../core/errors';
import { Tensor } from './tensor';

const DTYPES = { F32: 'float32', I64: 'int64' } as const;
type StDtype = keyof typeof DTYPES;

export interface SafeTensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Encodes float32/int64 tensors (names sorted, data 8-byte aligned) with string metadata. */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const names = [...tensors.keys()].sort();
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype = t.dtype === 'float32' ? 'F32' : t.dtype === 'int64' ? 'I64' : undefined;
    if (!dtype) throw new Error(`safetensors: tensor '${name}' is ${t.dtype}; only float32 and int64 are written`);
    const bytes = t.size * (dtype === 'F32' ? 4 : 8);
    header[name] = { dtype, shape: t.dims, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // the data starts 8-byte aligned
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  for (const name of names) {
    const t = tensors.get(name)!;
    const [begin] = (header[name] as { data_offsets: number[] }).data_offsets;
    const d = t.data as Float32Array | BigInt64Array;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), 8 + head.length + begin);
  }
  return out;
}

/** Decodes a safetensors file; errors name `source`. F32 and I64 tensors only. */
export function decodeSafetensors(bytes: Uint8Array, source = '.safetensors'): SafeTensors {
  const fail = (why: string): never => {
    throw new FileFormatError(source, `not a readable safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail('shorter than its 8-byte header size');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > bytes.length) fail(`header size ${n} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch {
    return fail('header is not JSON');
  }
  // Shapes checked before use: a header of `null`, `{"a": null}` or `"shape": 5` once reached the user as a raw TypeError.
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isCount = (d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
  if (!isObj(header)) fail('header is not a JSON object');
  const meta = header.__metadata__;
  if (meta !== undefined && (!isObj(meta) || Object.values(meta).some((x) => typeof x !== 'string'))) fail("'__metadata__' is not an object of strings");
  const data = bytes.subarray(8 + n);
  const tensors = new Map<string, Tensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isObj(v)) fail(`tensor '${name}' is not an object with dtype, shape and data_offsets`);
    const e = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = DTYPES[e.dtype as StDtype] ?? fail(`tensor '${name}' has dtype ${e.dtype} (F32 and I64 are read)`);
    if (e.shape !== undefined && !(Array.isArray(e.shape) && e.shape.every(isCount))) fail(`tensor '${name}': shape is not a list of non-negative integers`);
    const off = e.data_offsets;
    if (!(Array.isArray(off) && off.length === 2 && off.every(isCount) && off[0] <= off[1])) fail(`tensor '${name}' has no data_offsets [begin, end]`);
    const [begin, end] = off as [number, number];
    const count = (e.shape ?? []).reduce((p, d) => p * d, 1);
    const width = dtype === 'float32' ? 4 : 8;
    if (end - begin !== count * width || end > data.length) fail(`tensor '${name}': offsets [${begin}, ${end}] do not hold shape [${e.shape}]`);
    const raw = new Uint8Array(data.subarray(begin, end)); // a copy, aligned
    const typed = dtype === 'float32' ? new Float32Array(raw.buffer) : new BigInt64Array(raw.buffer);
    tensors.set(name, new Tensor(dtype, [...(e.shape ?? [])], typed));
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {} };
}
