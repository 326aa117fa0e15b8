/**
 * MNIST-format IDX files (LeCun et al.): a big-endian header (magic 0x0000 08 <ndims>, then one
 * uint32 per dimension) followed by unsigned bytes. Gzipped files are recognised by their magic
 * (1f 8b). Spec `idx:DIR` or `idx:IMAGES,LABELS`.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { formatBytes, readFileLimited, readLimit } from '../core/node/read-limits';
import { DiffusionError, FileFormatError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { fitImages } from './fit';
import { MemoryDataset } from './memory';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads a file's bytes, gunzipping when it starts with 1f 8b. */
export function readMaybeGzip(file: string): Uint8Array {
  const bytes = readFileLimited(file, 'idx', 'IDX file');
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const limit = readLimit('idx');
    try {
      return gunzipSync(bytes, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new FileFormatError(file, `unzips to more than the ${formatBytes(limit)} limit for an IDX file`);
      throw new FileFormatError(file, `corrupt or truncated gzip data (${(err as Error).message})`);
    }
  }
  return bytes;
}

/** Parses an unsigned-byte IDX file and checks its magic number and length. */
export function readIdx(file: string, magic: number): IdxArray {
  const bytes = readMaybeGzip(file);
  const hex = (v: number): string => `0x${v.toString(16).padStart(8, '0')}`;
  if (bytes.length < 4) throw new FileFormatError(file, `too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = view.getUint32(0);
  if (got !== magic) {
    const what = magic === IDX_IMAGES_MAGIC ? 'IDX images' : 'IDX labels';
    throw new FileFormatError(file, `bad magic number ${hex(got)}, expected ${hex(magic)} (${what})`);
  }
  const ndims = magic & 0xff;
  const header = 4 + 4 * ndims;
  if (bytes.length < header) throw new FileFormatError(file, `truncated header (${bytes.length} of ${header} bytes)`);
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - header < count) {
    throw new FileFormatError(
      file,
      `truncated: header says ${dims.join('x')} = ${count} bytes of data, file has ${bytes.length - header}`,
    );
  }
  return { dims, data: bytes.subarray(header, header + count) };
}

/** Writes an IDX file (used by tests and tools). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, 0x00000800 | dims.length);
  dims.forEach((d, k) => header.setUint32(4 + 4 * k, d));
  const out = new Uint8Array(header.byteLength + data.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(data, header.byteLength);
  return out;
}

/** Finds the images and labels files in a folder; prefers the `train` pair when there are several. */
export function findIdxPair(dir: string): { images: string; labels?: string } {
  const names = readdirSync(dir).sort();
  const images = names.filter((n) => /-images-idx3-ubyte(\.gz)?$/.test(n) || /-images\.idx3-ubyte(\.gz)?$/.test(n));
  if (images.length === 0) throw new DiffusionError(`${dir}: no *-images-idx3-ubyte[.gz] file found`);
  const chosen = images.length === 1 ? images[0] : (images.find((n) => n.startsWith('train')) ?? images[0]);
  const prefix = chosen.slice(0, chosen.search(/-images[-.]idx3/));
  const labels = names.find((n) => n.startsWith(`${prefix}-labels`) && /idx1-ubyte(\.gz)?$/.test(n));
  return { images: join(dir, chosen), labels: labels === undefined ? undefined : join(dir, labels) };
}

export interface IdxOptions {
  name?: string;
  classNames?: string[];
}

/** Opens an IDX images file (and optional labels file) as a data set of the requested shape. */
export async function openIdxFiles(
  imagesFile: string,
  labelsFile: string | undefined,
  want: DatasetRequest,
  opts: IdxOptions = {},
): Promise<Dataset> {
  const img = readIdx(imagesFile, IDX_IMAGES_MAGIC);
  const [n, h, w] = img.dims;
  if (img.dims.length !== 3 || !(n > 0 && h > 0 && w > 0)) throw new FileFormatError(imagesFile, `holds ${img.dims.join('x')} images; expected N x H x W with N, H, W > 0`);
  let labels: Int32Array | undefined;
  let numClasses: number | undefined;
  if (labelsFile !== undefined) {
    const lab = readIdx(labelsFile, IDX_LABELS_MAGIC);
    if (lab.dims[0] !== n) {
      throw new FileFormatError(labelsFile, `${lab.dims[0]} labels for ${n} images in ${imagesFile}`);
    }
    labels = Int32Array.from(lab.data);
    const maxLabel = labels.reduce((a, b) => Math.max(a, b), 0);
    numClasses = opts.classNames?.length ?? maxLabel + 1;
    if (maxLabel >= numClasses) {
      throw new FileFormatError(labelsFile, `label ${maxLabel} outside the ${numClasses} known classes`);
    }
  }
  const fitted = await fitImages({ data: img.data, n, c: 1, h, w }, want, imagesFile);
  return new MemoryDataset({
    name: opts.name ?? `idx:${imagesFile}`,
    length: n,
    channels: fitted.c,
    height: fitted.h,
    width: fitted.w,
    images: fitted.data,
    labels,
    numClasses,
    classNames: opts.classNames,
  });
}

/** `idx:DIR` or `idx:IMAGES[,LABELS]`. */
export async function openIdx(arg: string, want: DatasetRequest): Promise<Dataset> {
  if (arg === '') throw new DiffusionError('idx: needs a folder or files, e.g. idx:data/mnist');
  const parts = arg.split(',');
  if (parts.length === 1 && statSync(parts[0], { throwIfNoEntry: false })?.isDirectory()) {
    const pair = findIdxPair(parts[0]);
    return openIdxFiles(pair.images, pair.labels, want, { name: `idx:${arg}` });
  }
  if (parts.length > 2) throw new DiffusionError(`idx:${arg}: give at most two files (images,labels)`);
  return openIdxFiles(parts[0], parts[1], want, { name: `idx:${arg}` });
}
