/**
 * Node's edge of the float16 -> float32 upcast (src/onnx/upcast.ts): the model's external float16
 * data is read tensor by tensor from beside the model file; the widened weights stay inline when
 * they fit in one protobuf with room to spare, else they stream into a data file in a temporary
 * folder, from which ONNX Runtime makes the session (the folder is removed once it has). Peak
 * memory is then the graph plus one tensor, not the float16 and float32 copies of every weight.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError, FileFormatError } from '../core/errors';
import { externalRefFromProto, externalTensorProto, isExternal, tensorBytes } from '../onnx/external-data';
import { onnx } from '../onnx/onnx-proto';
import { hasFloat16, upcastFloat16, type UpcastReport } from '../onnx/upcast';
import { ExternalFiles } from './model-files';
import { ortNode } from './ort-node';

/** Widened weights above this many bytes go to a data file instead of the protobuf (default 1 GiB). */
export const UPCAST_INLINE_LIMIT = 2 ** 30;

/** A model file upcast to float32, ready for a session: the graph's bytes, or a file to load. */
export interface UpcastModel {
  /** Inline weights: the bytes to create the session from. */
  bytes?: Uint8Array;
  /** External weights: the model file in a temporary folder (remove `dir` after the session is made). */
  file?: string;
  dir?: string;
  report: UpcastReport;
}

/**
 * `modelFile` (or `bytes`, an edited graph of that file) with float16 widened to float32, or
 * undefined when it has no float16. `inlineLimit` is in float32 bytes.
 */
export function upcastModelFile(modelFile: string, bytes?: Uint8Array, inlineLimit = UPCAST_INLINE_LIMIT): UpcastModel | undefined {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes ?? fs.readFileSync(modelFile));
  } catch (e) {
    throw new FileFormatError(modelFile, `not a valid ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
  if (!hasFloat16(model)) return undefined;
  const count = (t: onnx.ITensorProto): number =>
    (t.dims ?? []).reduce<number>((a, d) => a * (typeof d === 'number' ? d : (d as { toNumber(): number }).toNumber()), 1);
  const graph = model.graph ?? {};
  const half = (graph.initializer ?? []).reduce((s, t) => s + (t.dataType === onnx.TensorProto.DataType.FLOAT16 ? 2 * count(t) : 0), 0);
  // External tensors of other types (the float32 weights of a graph with only a float16 input) move
  // with the widened ones: the new graph is not beside the model's data files.
  const others = (graph.initializer ?? []).filter((t) => t.dataType !== onnx.TensorProto.DataType.FLOAT16 && isExternal(t));
  const otherBytes = others.reduce((s, t) => s + tensorBytes(externalRefFromProto(t)), 0);
  const files = new ExternalFiles(modelFile);
  let dir: string | undefined;
  let fd: number | undefined;
  let offset = 0;
  try {
    const readExternal = (p: onnx.ITensorProto): Uint8Array => {
      const ref = externalRefFromProto(p);
      const into = new Uint8Array(tensorBytes(ref));
      files.read(ref, into);
      return into;
    };
    let place: ((name: string, dims: number[], data: Float32Array) => onnx.ITensorProto) | undefined;
    let write: ((b: Uint8Array) => number) | undefined;
    if (2 * half + otherBytes > inlineLimit) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-upcast-'));
      fd = fs.openSync(path.join(dir, 'weights.pb'), 'w');
      const out = fd;
      const at = (b: Uint8Array): number => {
        offset = Math.ceil(offset / 64) * 64;
        for (let done = 0; done < b.byteLength;) done += fs.writeSync(out, b, done, b.byteLength - done, offset + done);
        const start = offset;
        offset += b.byteLength;
        return start;
      };
      write = at;
      place = (name, dims, data) => {
        const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        // below onnx's 1024-byte threshold a tensor stays inside the graph, as onnx writes it
        if (b.byteLength < 1024) return { name, dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: b };
        return externalTensorProto(name, 'float32', dims, 'weights.pb', at(b), b.byteLength);
      };
    }
    const moved = new Map(others.map((p): [onnx.ITensorProto, onnx.ITensorProto] => {
      const ref = externalRefFromProto(p);
      const b = readExternal(p);
      const into = write
        ? externalTensorProto(ref.tensor, ref.dtype, ref.dims, 'weights.pb', write(b), b.byteLength)
        : { name: ref.tensor, dataType: p.dataType, dims: ref.dims, rawData: b };
      return [p, into];
    }));
    graph.initializer = (graph.initializer ?? []).map((t) => moved.get(t) ?? t);
    const report = upcastFloat16(model, { readExternal, place });
    const encoded = onnx.ModelProto.encode(model).finish();
    if (!dir) return { bytes: encoded, report };
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, encoded);
    return { file, dir, report };
  } catch (e) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    files.close();
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** An ONNX Runtime session over the upcast model, or undefined when the file has no float16. */
export async function float32Session(
  modelFile: string, bytes: Uint8Array | undefined, options: InferenceSession.SessionOptions,
): Promise<InferenceSession | undefined> {
  const up = upcastModelFile(modelFile, bytes);
  if (!up) return undefined;
  try {
    return up.bytes ? await ortNode().InferenceSession.create(up.bytes, options) : await ortNode().InferenceSession.create(up.file!, options);
  } catch (e) {
    throw new DiffusionError(`${modelFile}: ONNX Runtime could not load its float32 upcast: ${String((e as Error).message).split('\n')[0]}`);
  } finally {
    if (up.dir) fs.rmSync(up.dir, { recursive: true, force: true });
  }
}
