/**
 * Reads ModelProto.metadata_props (field 14) straight from the protobuf bytes, skipping the graph
 * without decoding it: cheap, and light enough for the browser bundle. No Node imports.
 */
import { DiffusionError } from '../core/errors';

function varint(b: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new Error('truncated varint');
    const byte = b[pos++];
    result += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new Error('bad varint');
}

function fields(b: Uint8Array, visit: (field: number, start: number, end: number) => void): void {
  let pos = 0;
  while (pos < b.length) {
    const [key, p1] = varint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    pos = p1;
    if (wire === 0) pos = varint(b, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, p2] = varint(b, pos);
      if (p2 + len > b.length) throw new Error('truncated field');
      visit(field, p2, p2 + len);
      pos = p2 + len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (pos > b.length) throw new Error('truncated field');
  }
}

export function readMetadata(bytes: Uint8Array, source = 'model'): Record<string, string> {
  const out: Record<string, string> = {};
  const dec = new TextDecoder();
  try {
    fields(bytes, (field, s, e) => {
      if (field !== 14) return;
      let key = '';
      let value = '';
      fields(bytes.subarray(s, e), (f, a, z) => {
        if (f === 1) key = dec.decode(bytes.subarray(s + a, s + z));
        if (f === 2) value = dec.decode(bytes.subarray(s + a, s + z));
      });
      out[key] = value;
    });
  } catch (e) {
    throw new DiffusionError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  return out;
}
