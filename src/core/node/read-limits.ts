/**
 * Bounded file reading: a file is read only when it is a regular file (not /dev/zero, a named
 * pipe, a socket or a folder) and only up to a size limit for its kind, so that a wrong path fails
 * at once with a message naming the file and the limit, instead of reading until memory runs out
 * or blocking forever. Limits are generous for what this project reads; an environment variable
 * ONNX_DIFFUSION_MAX_<KIND>_MB raises (or lowers) one.
 */
import * as fs from 'node:fs';
import { FileFormatError } from '../errors';
import { fileError } from '../fs-errors';

const MB = 1024 * 1024;

/** What a file is read as, and the most bytes read for it. */
export const READ_LIMITS = {
  /** ONNX protobuf files cannot exceed 2 GiB (no external data here). */
  onnx: 2048 * MB,
  /** IDX data, after gunzip: Fashion-MNIST full is 55 MB; EMNIST-sized sets fit. */
  idx: 1024 * MB,
  /** One CIFAR-10 binary batch is 30 MB. */
  cifar: 512 * MB,
  /** One image file (PNG, JPEG, WebP, ...). */
  image: 256 * MB,
  /** train.json, metadata, other JSON. */
  json: 64 * MB,
  /** Model recipes (graphs/*.json): a few KB. */
  recipe: 16 * MB,
  /** Config files (config.json, scheduler_config.json, --config). */
  config: 16 * MB,
  /** LoRA adapters (safetensors); a rank-128 adapter of an SD-size UNet is about 800 MB. */
  adapter: 2048 * MB,
  /** NumPy .npy tensors (conditioning embeddings, --input values). */
  npy: 1024 * MB,
  /** manifest.jsonl: one line per image. */
  manifest: 256 * MB,
  /** A run folder's lock file: a pid, host and time. */
  lock: 64 * 1024,
  text: 64 * MB,
  /** Training state vectors (params, moments, EMA), as large as a model can be. */
  state: 2048 * MB,
} as const;

export type ReadKind = keyof typeof READ_LIMITS;

export function readLimit(kind: ReadKind): number {
  const env = process.env[`ONNX_DIFFUSION_MAX_${kind.toUpperCase()}_MB`];
  const mb = env !== undefined ? Number(env) : NaN;
  return Number.isFinite(mb) && mb > 0 ? Math.floor(mb * MB) : READ_LIMITS[kind];
}

export function formatBytes(n: number): string {
  if (n >= 1024 * MB) return `${(n / (1024 * MB)).toFixed(1)} GiB`;
  if (n >= MB) return `${(n / MB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Throws unless `file` is a regular file within the limit for `kind`; returns its size. */
export function checkReadable(file: string, kind: ReadKind, what = `${kind} file`): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw fileError(file, `cannot read ${what}`, e);
  }
  return checkStats(file, st, kind, what);
}

function checkStats(file: string, st: fs.Stats, kind: ReadKind, what: string): number {
  if (!st.isFile()) throw new FileFormatError(file, `is ${kindOf(st)}, not a regular file (expected: ${what})`);
  const limit = readLimit(kind);
  if (st.size > limit) {
    throw new FileFormatError(file, `${what} of ${formatBytes(st.size)} is over the ${formatBytes(limit)} limit (ONNX_DIFFUSION_MAX_${kind.toUpperCase()}_MB raises it)`);
  }
  return st.size;
}

/**
 * Reads a whole regular file of at most the kind's limit. Opened non-blocking, so a named pipe
 * never blocks, and checked on the open descriptor, so the file read is the file checked.
 */
export function readFileLimited(file: string, kind: ReadKind, what = `${kind} file`): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(file, `cannot read ${what}`, e);
  }
  try {
    const size = checkStats(file, fs.fstatSync(fd), kind, what);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw fileError(file, `cannot read ${what}`, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** readFileLimited as UTF-8 text. */
export function readTextLimited(file: string, kind: ReadKind = 'text', what = `${kind} file`): string {
  return readFileLimited(file, kind, what).toString('utf8');
}
