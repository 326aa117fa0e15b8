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

/** The metadata key of the project's half-weight storage (onnx/fp16.ts). */
export const WEIGHTS_DTYPE_KEY = 'onnx_diffusion.weights_dtype';

function fields(b: Uint8Array, visit: (field: number, start: number, end: number) => void, onVarint?: (field: number, value: number) => void): void {
  let pos = 0;
  while (pos < b.length) {
    const [key, p1] = varint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    pos = p1;
    if (wire === 0) {
      const [value, p2] = varint(b, pos);
      onVarint?.(field, value);
      pos = p2;
    }
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

/**
 * Whether the model stores float16 weights that it computes with (a float16 export): what
 * precision 'float32' widens for a single model file. Not the project's half-weight storage
 * (onnx/fp16.ts: Casts at the top widen them, and ORT folds those), nor a float32 model with only a
 * float16 input (it computes in float32 already; widening would copy all its weights for nothing).
 * Scanned from the bytes (graph field 7, initializer field 5, data_type field 2 = FLOAT16 10)
 * without decoding the graph: light enough for the page's sampling bundle, and cheap on a large file.
 * @internal
 */
export function hasFloat16Weights(bytes: Uint8Array, source = 'model'): boolean {
  if (readMetadata(bytes, source)[WEIGHTS_DTYPE_KEY] === 'float16') return false;
  let found = false;
  try {
    fields(bytes, (f, s, e) => {
      if (f !== 7 || found) return;
      const graph = bytes.subarray(s, e);
      fields(graph, (gf, gs, ge) => {
        if (gf !== 5 || found) return;
        fields(graph.subarray(gs, ge), () => {}, (tf, v) => {
          if (tf === 2 && v === 10) found = true;
        });
      });
    });
  } catch (e) {
    throw new DiffusionError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  return found;
}
