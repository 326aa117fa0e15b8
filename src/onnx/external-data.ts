/**
 * ONNX external data, the pure half: where a tensor's bytes live when they sit in a file beside
 * the graph (`data_location: EXTERNAL`, `external_data` {location, offset, length}), the checks
 * that need no file system, and the split of a model into a graph protobuf plus the byte ranges of
 * its data file. A protobuf holds at most 2 GB, so SD-size UNets always come this way.
 * Reading and writing the files is Node's part (src/runtime/model-files.ts). No Node imports.
 *
 * Facts from onnx's `external_data_helper.py` (1.12): keys `location` (relative to the model's
 * folder), `offset` and `length` (bytes; absent = 0 and the rest of the file), `checksum` (unused);
 * `convert_model_to_external_data` moves tensors of at least `size_threshold` = 1024 bytes.
 */
import { DiffusionError } from '../core/errors';
import type { Model } from './ir';
import { onnx } from './onnx-proto';
import { BYTES_PER_ELEMENT, dtypeFromOnnx, DType, numElements, ONNX_DTYPE } from './tensor';

/** One tensor whose data is in an external file. */
export interface ExternalRef {
  tensor: string;
  dtype: DType;
  dims: number[];
  /** As written in the model: a path relative to the model's folder. */
  location: string;
  offset: number;
  /** Bytes; undefined = from offset to the end of the file. */
  length?: number;
}

/** Fills `into` (exactly the tensor's byte size) with the tensor's bytes, or throws naming tensor and file. */
export type ExternalReader = (ref: ExternalRef, into: Uint8Array) => void;

type LongLike = number | { toNumber(): number };
const num = (v: LongLike | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

/** True when the TensorProto keeps its data in an external file. @internal */
export function isExternal(p: onnx.ITensorProto): boolean {
  return p.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** The byte size the tensor's dims and type need. */
export function tensorBytes(ref: Pick<ExternalRef, 'dtype' | 'dims'>): number {
  return numElements(ref.dims) * BYTES_PER_ELEMENT[ref.dtype];
}

/** An external TensorProto's reference, its location checked (checkLocation). @internal */
export function externalRefFromProto(p: onnx.ITensorProto): ExternalRef {
  const tensor = p.name ?? '';
  const entries = new Map((p.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (location === undefined || location === '') throw new DiffusionError(`tensor '${tensor}': external data without a 'location'`);
  const int = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v.trim())) throw new DiffusionError(`tensor '${tensor}' in '${location}': external data ${key} ${JSON.stringify(v)} is not a byte count`);
    return Number(v);
  };
  const ref: ExternalRef = {
    tensor, dtype: dtypeFromOnnx(p.dataType ?? 0), dims: (p.dims ?? []).map((d) => num(d as LongLike)), location, offset: int('offset') ?? 0,
  };
  const length = int('length');
  if (length !== undefined) ref.length = length;
  checkLocation(ref);
  return ref;
}

/**
 * Refuses a location that could name a file outside the model's folder, before any file is
 * touched: absolute paths (POSIX, Windows drive or UNC), `..` segments, NUL bytes. Symlinks are
 * the Node reader's check (realpath).
 */
export function checkLocation(ref: Pick<ExternalRef, 'tensor' | 'location'>): void {
  const loc = ref.location;
  const why = loc.includes('\0') ? 'contains a NUL byte'
    : /^([/\\]|[A-Za-z]:)/.test(loc) ? 'is an absolute path'
      : loc.split(/[/\\]/).includes('..') ? "goes up with '..'"
        : undefined;
  if (why) throw new DiffusionError(`tensor '${ref.tensor}': external data location '${loc}' ${why}; it must name a file inside the model's folder`);
}

/** Refuses an offset/length past the end of the file (of `fileSize` bytes) or a length that is not the tensor's size. */
export function checkSpan(ref: ExternalRef, fileSize: number): { offset: number; length: number } {
  const need = tensorBytes(ref);
  const where = `tensor '${ref.tensor}' in '${ref.location}'`;
  if (ref.offset > fileSize) throw new DiffusionError(`${where}: offset ${ref.offset} is past the end of the file (${fileSize} bytes)`);
  const length = ref.length ?? fileSize - ref.offset;
  if (ref.offset + length > fileSize) {
    throw new DiffusionError(`${where}: offset ${ref.offset} + length ${length} is past the end of the file (${fileSize} bytes)`);
  }
  if (length !== need) throw new DiffusionError(`${where}: ${length} bytes, but dims [${ref.dims.join(',')}] of ${ref.dtype} need ${need}`);
  return { offset: ref.offset, length };
}

/** Every external initializer of a model's bytes (subgraphs and Constant attributes included), graph decoded, data not read. */
export function externalRefs(bytes: Uint8Array, source = 'model'): ExternalRef[] {
  const refs = externalRefsIfModel(bytes, source);
  if (refs === undefined) throw new DiffusionError(`${source}: not a valid ONNX model (its protobuf does not decode)`);
  return refs;
}

/**
 * externalRefs, or undefined when the bytes are not a protobuf at all (a JSON file, random
 * bytes): the loader then says what they are. Bad references still throw.
 */
export function externalRefsIfModel(bytes: Uint8Array, source = 'model'): ExternalRef[] | undefined {
  let p: onnx.ModelProto;
  try {
    p = onnx.ModelProto.decode(bytes);
  } catch {
    return undefined;
  }
  const out: ExternalRef[] = [];
  const visitGraph = (g: onnx.IGraphProto | null | undefined): void => {
    if (!g) return;
    for (const t of g.initializer ?? []) if (isExternal(t)) out.push(externalRefFromProto(t));
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        for (const t of [a.t, ...(a.tensors ?? [])]) if (t && isExternal(t)) out.push(externalRefFromProto(t));
        visitGraph(a.g);
        for (const sg of a.graphs ?? []) visitGraph(sg);
      }
    }
  };
  try {
    visitGraph(p.graph);
  } catch (e) {
    throw e instanceof DiffusionError ? new DiffusionError(`${source}: ${e.message}`) : e;
  }
  return out;
}

// ---------------------------------------------------------------- writing

/** How a model is split between the graph protobuf and an external data file. */
export interface ExternalDataOptions {
  /**
   * 'auto' (default): external data when the weights pass `threshold` bytes; true: always; false:
   * never (refused when the protobuf would pass 2 GB).
   */
  externalData?: 'auto' | boolean;
  /** Weight bytes above which 'auto' writes external data (default 1 GiB). */
  threshold?: number;
  /** Tensors smaller than this stay inside the protobuf (default 1024 bytes, as onnx's). */
  minTensorBytes?: number;
}

export const DEFAULT_EXTERNAL_THRESHOLD = 2 ** 30;
export const MIN_EXTERNAL_TENSOR_BYTES = 1024;
/** protobuf's limit on one message, which ONNX Runtime and onnx enforce. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** The tensors a model's data file holds, in file order, each as a view of the tensor's own memory. */
export interface ExternalPlan {
  /** Tensors moved out, with their offsets in the data file. */
  tensors: { name: string; offset: number; bytes: Uint8Array }[];
  /** Size of the data file. */
  dataBytes: number;
}

/** Total bytes of a model's initializers (top-level graph). */
export function weightBytes(model: Model): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) n += t.data.byteLength;
  return n;
}

/**
 * Which initializers go to the data file `location` (none when inline): tensors of at least
 * minTensorBytes, in graph order, each aligned to 64 bytes. Views only; nothing is copied.
 */
export function planExternalData(model: Model, opts: ExternalDataOptions = {}): ExternalPlan | undefined {
  const mode = opts.externalData ?? 'auto';
  const total = weightBytes(model);
  const on = mode === true || (mode === 'auto' && total > (opts.threshold ?? DEFAULT_EXTERNAL_THRESHOLD));
  if (!on) return undefined;
  const min = opts.minTensorBytes ?? MIN_EXTERNAL_TENSOR_BYTES;
  const tensors: ExternalPlan['tensors'] = [];
  let offset = 0;
  for (const [name, t] of model.graph.initializers) {
    if (t.data.byteLength < min) continue;
    offset = Math.ceil(offset / 64) * 64;
    tensors.push({ name, offset, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    offset += t.data.byteLength;
  }
  return { tensors, dataBytes: offset };
}

/** The TensorProto of a tensor whose bytes are at `offset` in `location`. @internal */
export function externalTensorProto(name: string, dtype: DType, dims: number[], location: string, offset: number, length: number): onnx.ITensorProto {
  return {
    name,
    dataType: ONNX_DTYPE[dtype],
    dims,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}
