/**
 * A minimal reader of ONNX external data (initializers stored in files beside the graph, as
 * diffusers' conversion script saves a UNet): enough to train a small export such as
 * test/fixtures/tiny-sd/unet. Each external tensor is read from its `location` (relative to the
 * model's folder, never outside it) at `offset`/`length` and put back inline, then the model is
 * decoded as usual. The ONNX spec of the fields: onnx/onnx docs/ExternalData.md. Pure: the files
 * come through `ExternalFiles` (src/core/node/external-files.ts reads a folder in Node).
 */
import { FileFormatError } from '../core/errors';
import { onnx } from './onnx-proto';
import { decodeModel } from './proto';
import type { Model } from './ir';
import { BYTES_PER_ELEMENT, dtypeFromOnnx } from './tensor';

type LongLike = number | { toNumber(): number };
const num = (v: LongLike | null | undefined) => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** The files beside a model, by location relative to its folder. Each throws naming the file when it cannot serve. */
export interface ExternalFiles {
  /** The folder, for messages. */
  dir: string;
  /** Size in bytes of the file at `location`; throws when it is outside the folder or missing. */
  size(location: string, tensor: string): number;
  /** `length` bytes of the file at `location` from `offset`. */
  read(location: string, offset: number, length: number): Uint8Array;
}

/**
 * Puts every external initializer of `model` inline (in place), reading through `files`.
 * Refuses, naming the tensor and the file: a location that is absolute or climbs out (`..`), an
 * offset or length past the end of the file, a length that does not match the tensor's dims.
 */
export function readExternalData(model: onnx.ModelProto, files: ExternalFiles): void {
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    const name = t.name ?? '';
    if (!location) throw new FileFormatError(files.dir, `tensor '${name}': external data without a location`);
    if (location.startsWith('/') || /^[A-Za-z]:/.test(location) || location.split(/[\\/]/).includes('..')) {
      throw new FileFormatError(location, `tensor '${name}': external data location is outside the model's folder ${files.dir}`);
    }
    const size = files.size(location, name);
    const dims = (t.dims ?? []).map((d) => num(d as LongLike));
    const want = dims.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtypeFromOnnx(t.dataType ?? 0)];
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : want;
    if (!(offset >= 0) || !(length >= 0) || offset + length > size) {
      throw new FileFormatError(location, `tensor '${name}': external data offset ${offset} + length ${length} is past the end of the file (${size} bytes)`);
    }
    if (length !== want) throw new FileFormatError(location, `tensor '${name}': external data has ${length} bytes, dims [${dims.join(',')}] need ${want}`);
    t.rawData = files.read(location, offset, length);
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
}

/** Decodes a model's bytes, reading its external data through `files` when it has any. */
export function decodeModelWithExternalData(bytes: Uint8Array, source: string, files: ExternalFiles): Model {
  let p: onnx.ModelProto | undefined;
  try {
    p = onnx.ModelProto.decode(bytes);
  } catch {
    p = undefined; // decodeModel gives the message
  }
  const external = p?.graph?.initializer?.some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
  if (!p || !external) return decodeModel(bytes, source);
  readExternalData(p, files);
  return decodeModel(onnx.ModelProto.encode(p).finish(), source);
}
