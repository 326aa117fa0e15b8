/**
 * ONNX models on disk with their external data (Node): reading confined to the model's folder,
 * and writing a graph protobuf plus one data file, streamed tensor by tensor. The pure half
 * (references, checks, the split) is src/onnx/external-data.ts.
 *
 * Reading opens nothing outside the model's folder: every location is checked as text first
 * (absolute, `..`), then by realpath (a symlink pointing out), then against the file's size,
 * before a byte is read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import { formatBytes, readFileLimited } from '../core/node/read-limits';
import type { Model } from '../onnx/ir';
import { decodeModel, decodeModelHeader, encodeModel } from '../onnx/proto';
import {
  checkLocation, checkSpan, ExternalDataOptions, ExternalReader, ExternalRef, externalRefs, planExternalData, PROTOBUF_LIMIT,
} from '../onnx/external-data';

/** The folder's real path, and each location's real path checked to lie inside it. @internal */
export class ExternalFiles {
  private readonly root: string;
  private readonly files = new Map<string, { file: string; size: number; fd?: number }>();

  constructor(readonly modelFile: string) {
    this.root = fs.realpathSync(path.dirname(path.resolve(modelFile)));
  }

  /** The checked file of a location (not opened). */
  file(ref: ExternalRef): { file: string; size: number } {
    const known = this.files.get(ref.location);
    if (known) return known;
    checkLocation(ref);
    const joined = path.join(this.root, ref.location);
    let real: string;
    try {
      real = fs.realpathSync(joined);
    } catch {
      throw new DiffusionError(`tensor '${ref.tensor}': external data file '${ref.location}' does not exist beside ${this.modelFile}`);
    }
    if (!real.startsWith(this.root + path.sep)) {
      throw new DiffusionError(`tensor '${ref.tensor}': external data location '${ref.location}' resolves outside the model's folder (a symlink to ${real})`);
    }
    const st = fs.statSync(real);
    if (!st.isFile()) throw new DiffusionError(`tensor '${ref.tensor}': external data location '${ref.location}' is not a regular file`);
    const entry = { file: real, size: st.size };
    this.files.set(ref.location, entry);
    return entry;
  }

  /** Checks a reference without reading: inside the folder, within the file, the right size. */
  check(ref: ExternalRef): void {
    checkSpan(ref, this.file(ref).size);
  }

  readonly read: ExternalReader = (ref, into) => {
    const f = this.file(ref);
    const { offset, length } = checkSpan(ref, f.size);
    if (length !== into.byteLength) throw new DiffusionError(`tensor '${ref.tensor}' in '${ref.location}': ${length} bytes, expected ${into.byteLength}`);
    const entry = this.files.get(ref.location)!;
    entry.fd ??= fs.openSync(f.file, 'r');
    for (let done = 0; done < length;) {
      const got = fs.readSync(entry.fd, into, done, Math.min(length - done, 1 << 30), offset + done);
      if (got <= 0) throw new DiffusionError(`tensor '${ref.tensor}' in '${ref.location}': the file ended early`);
      done += got;
    }
  };

  close(): void {
    for (const f of this.files.values()) if (f.fd !== undefined) fs.closeSync(f.fd);
  }
}

/**
 * Checks every external reference of a model file's bytes (location, symlinks, offsets, sizes)
 * without reading data; returns them (empty: the weights are inside).
 */
export function checkExternalData(modelFile: string, bytes: Uint8Array, refs: ExternalRef[] = externalRefs(bytes, modelFile)): ExternalRef[] {
  if (refs.length === 0) return refs;
  const files = new ExternalFiles(modelFile);
  try {
    for (const r of refs) files.check(r);
  } catch (e) {
    throw new DiffusionError(`${modelFile}: ${(e as Error).message}`);
  }
  return refs;
}

/** A model file and its external data, decoded (weights in memory). */
export function readModelFiles(modelFile: string, bytes: Uint8Array = readFileLimited(modelFile, 'onnx', 'ONNX model file')): Model {
  const files = new ExternalFiles(modelFile);
  try {
    return decodeModel(bytes, modelFile, { external: files.read });
  } finally {
    files.close();
  }
}

/** The graph of a model file without its external data (listed instead), each reference checked. */
export function readModelHeader(modelFile: string): { model: Model; external: ExternalRef[]; bytes: number } {
  const bytes = readFileLimited(modelFile, 'onnx', 'ONNX model file');
  const { model, external } = decodeModelHeader(bytes, modelFile);
  checkExternalData(modelFile, bytes, external);
  return { model, external, bytes: bytes.length };
}

export interface WriteModelOptions extends ExternalDataOptions {
  /** The data file's name, beside the model (default `<model file name>.data`). */
  location?: string;
}

/** What encodeModelToFiles wrote. */
export interface WrittenModel {
  files: { file: string; bytes: number }[];
  /** The data file's name (relative), when one was written. */
  location?: string;
}

/**
 * Writes `model` to `file`, with its large weights in one external data file beside it when they
 * pass the threshold (default 1 GiB) or `externalData: true`. The data file is streamed from the
 * tensors' own memory, one tensor at a time; the protobuf never passes 2 GB (refused otherwise).
 * Each file is written under a temporary name and renamed, so a crash leaves the old files.
 */
export function encodeModelToFiles(model: Model, file: string, opts: WriteModelOptions = {}): WrittenModel {
  const plan = planExternalData(model, opts);
  const location = opts.location ?? `${path.basename(file)}.data`;
  if (plan) checkLocation({ tensor: '(data file)', location });
  let header: Uint8Array;
  try {
    header = plan ? encodeModel(model, { location, plan }) : encodeModel(model);
  } catch (e) {
    // protobufjs fails on a message past 2 GB with a RangeError about buffer sizes
    throw new DiffusionError(`${file}: the model could not be encoded in one protobuf (${(e as Error).message}); write it with external data`);
  }
  if (header.byteLength > PROTOBUF_LIMIT) {
    throw new DiffusionError(`${file}: the graph protobuf would be ${formatBytes(header.byteLength)}, over protobuf's 2 GB; write it with external data (externalData: true)`);
  }
  const written: WrittenModel = { files: [] };
  if (plan) {
    const dataFile = path.join(path.dirname(file), location);
    const tmp = `${dataFile}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const t of plan.tensors) {
        for (let done = 0; done < t.bytes.byteLength;) done += fs.writeSync(fd, t.bytes, done, t.bytes.byteLength - done, t.offset + done);
      }
      if (plan.dataBytes > 0) fs.ftruncateSync(fd, plan.dataBytes);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, dataFile);
    written.files.push({ file: dataFile, bytes: plan.dataBytes });
    written.location = location;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, header);
  } catch (e) {
    throw new FileFormatError(file, `cannot write: ${(e as Error).message}`);
  }
  fs.renameSync(tmp, file);
  written.files.unshift({ file, bytes: header.byteLength });
  return written;
}
