/**
 * A minimal reader of ONNX external data (initializers stored in files beside the graph, as
 * diffusers' conversion script saves a UNet): enough to train a small export such as
 * test/fixtures/tiny-sd/unet. Each external tensor is read from its `location` (relative to the
 * model's folder, never outside it) at `offset`/`length` and put back inline, then the model is
 * decoded as usual. The ONNX spec of the fields: onnx/onnx docs/ExternalData.md.
 */
import * as fs from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FileFormatError } from '../core/errors';
import { onnx } from './onnx-proto';
import { decodeModel } from './proto';
import type { Model } from './ir';
import { BYTES_PER_ELEMENT, dtypeFromOnnx } from './tensor';

type LongLike = number | { toNumber(): number };
const num = (v: LongLike | null | undefined) => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** True when the path leaves `dir` (absolute, `..`, or a symlink pointing out). */
function escapes(dir: string, location: string): boolean {
  if (isAbsolute(location)) return true;
  const full = resolve(dir, location);
  const rel = relative(resolve(dir), full);
  if (rel.startsWith('..') || isAbsolute(rel)) return true;
  try {
    const real = fs.realpathSync(full);
    const realRel = relative(fs.realpathSync(dir), real);
    return realRel.startsWith('..') || isAbsolute(realRel) || realRel.split(sep)[0] === '..';
  } catch {
    return false; // a missing file is reported by the read below
  }
}

/**
 * Puts every external initializer of `model` inline (in place), reading from files under `dir`.
 * Refuses, naming the tensor and the file: a location outside `dir`, a missing file, an offset or
 * length past the end of the file, a length that does not match the tensor's dims.
 */
export function readExternalData(model: onnx.ModelProto, dir: string): void {
  const cache = new Map<string, number>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    const name = t.name ?? '';
    if (!location) throw new FileFormatError(`${dir}`, `tensor '${name}': external data without a location`);
    if (escapes(dir, location)) throw new FileFormatError(location, `tensor '${name}': external data location is outside the model's folder ${dir}`);
    const file = join(dir, location);
    let fd = cache.get(file);
    if (fd === undefined) {
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        throw new FileFormatError(file, `tensor '${name}': external data file cannot be opened`);
      }
      cache.set(file, fd);
    }
    const size = fs.fstatSync(fd).size;
    const dims = (t.dims ?? []).map((d) => num(d as LongLike));
    const want = dims.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtypeFromOnnx(t.dataType ?? 0)];
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : want;
    if (!(offset >= 0) || !(length >= 0) || offset + length > size) {
      throw new FileFormatError(file, `tensor '${name}': external data offset ${offset} + length ${length} is past the end of the file (${size} bytes)`);
    }
    if (length !== want) throw new FileFormatError(file, `tensor '${name}': external data has ${length} bytes, dims [${dims.join(',')}] need ${want}`);
    const bytes = new Uint8Array(length);
    fs.readSync(fd, bytes, 0, length, offset);
    t.rawData = bytes;
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
  for (const fd of cache.values()) fs.closeSync(fd);
}

/** Decodes a model file's bytes, reading external data from the file's folder when it has any. */
export function decodeModelFile(bytes: Uint8Array, file: string): Model {
  let p: onnx.ModelProto | undefined;
  try {
    p = onnx.ModelProto.decode(bytes);
  } catch {
    p = undefined; // decodeModel gives the message
  }
  const external = p?.graph?.initializer?.some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
  if (!p || !external) return decodeModel(bytes, file);
  readExternalData(p, dirname(file));
  return decodeModel(onnx.ModelProto.encode(p).finish(), file);
}
