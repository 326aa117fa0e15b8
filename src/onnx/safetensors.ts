/**
 * safetensors files (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
 * header size, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {string: string}}`, then the raw little-endian data. Used for LoRA adapter files. F16 and BF16
 * tensors (common in kohya and diffusers files) are read widened to float32. Hand-written:
 * the npm package `safetensors` is a 0.0.1 placeholder; the format is 60 lines. Pure (bytes).
 */
import { FileFormatError } from '../core/errors';
import { halfToFloat, Tensor } from './tensor';

const DTYPES = { F32: 'float32', I64: 'int64', F16: 'float32', BF16: 'float32' } as const;
const WIDTH: Record<StDtype, number> = { F32: 4, I64: 8, F16: 2, BF16: 2 };
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

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Decodes a safetensors file; errors name `source` and the tensor. F32, F16, BF16 (as float32) and I64 tensors. */
export function decodeSafetensors(bytes: Uint8Array, source = '.safetensors'): SafeTensors {
  const fail = (why: string): never => {
    throw new FileFormatError(source, `not a readable safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail('shorter than its 8-byte header size');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > bytes.length) fail(`header size ${n} exceeds the file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    return fail('header is not JSON');
  }
  if (!isObj(header)) return fail('header is not a JSON object');
  const data = bytes.subarray(8 + n);
  const tensors = new Map<string, Tensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const what = `tensor '${name.length > 80 ? `${name.slice(0, 80)}...` : name}'`;
    if (!isObj(v)) fail(`${what} is not an object with dtype, shape and data_offsets`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = DTYPES[e.dtype as StDtype] ?? fail(`${what} has dtype ${JSON.stringify(e.dtype)} (F32, F16, BF16 and I64 are read)`);
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) fail(`${what} has shape ${JSON.stringify(e.shape)} (a list of non-negative integers expected)`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) fail(`${what} has data_offsets ${JSON.stringify(offsets)} ([begin, end] expected)`);
    const [begin, end] = offsets as number[];
    const shape = e.shape as number[];
    const count = shape.reduce((p, d) => p * d, 1);
    const width = WIDTH[e.dtype as StDtype];
    if (!(begin <= end && end - begin === count * width && end <= data.length)) fail(`${what}: offsets [${begin}, ${end}] do not hold shape [${shape}] in ${data.length} data bytes`);
    const raw = new Uint8Array(data.subarray(begin, end)); // a copy, aligned
    const typed = e.dtype === 'F16' ? halfsToFloat(new Uint16Array(raw.buffer)) : e.dtype === 'BF16' ? bf16ToFloat(new Uint16Array(raw.buffer))
      : dtype === 'float32' ? new Float32Array(raw.buffer) : new BigInt64Array(raw.buffer);
    tensors.set(name, new Tensor(dtype, [...shape], typed));
  }
  const meta = header.__metadata__ ?? {};
  if (!isObj(meta) || !Object.values(meta).every((x) => typeof x === 'string')) fail('__metadata__ is not an object of strings');
  return { tensors, metadata: meta as Record<string, string> };
}

/** bfloat16 is float32's upper 16 bits. */
function bf16ToFloat(h: Uint16Array): Float32Array {
  const u = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
  return new Float32Array(u.buffer);
}

function halfsToFloat(h: Uint16Array): Float32Array {
  return Float32Array.from(h, halfToFloat);
}
