/**
 * The page trainer's saved state (Trainer.saveState/loadState): a JSON header and the four flat
 * vectors in one byte array, e.g. for IndexedDB. Layout: 'ODTS' (u32 LE), header length (u32 LE),
 * header JSON, padding to 4 bytes, then params, m, v, ema as float32.
 */
import { DiffusionError } from '../core/errors';
import type { RngState } from '../core/rng';
import type { LoaderState } from '../data/loader';
import type { TrainVectors } from '../train/train-graph';

export const STATE_FORMAT = 'onnx-diffusion/web-train-state/2';
const MAGIC = 0x5354444f; // 'ODTS'

export interface StateHeader {
  format: string;
  step: number;
  totalSteps: number;
  batch: number;
  total: number;
  losses: number[];
  rng: RngState;
  data?: { name: string; loader: LoaderState };
}

export function encodeTrainState(header: StateHeader, vec: TrainVectors): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((8 + json.length) / 4) * 4;
  const n = header.total;
  const bytes = new Uint8Array(start + 16 * n);
  new DataView(bytes.buffer).setUint32(0, MAGIC, true);
  new DataView(bytes.buffer).setUint32(4, json.length, true);
  bytes.set(json, 8);
  const floats = new Float32Array(bytes.buffer, start, 4 * n);
  [vec.params, vec.m, vec.v, vec.ema].forEach((a, k) => floats.set(a, k * n));
  return bytes;
}

/** What a state must match to continue a trainer's run: its parameters, planned length and batch. */
export interface StateExpectation {
  total: number;
  totalSteps: number;
  batch: number;
}

export function decodeTrainState(bytes: Uint8Array, want: StateExpectation): { header: StateHeader; vec: TrainVectors } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint32(0, true) !== MAGIC) throw new DiffusionError('loadState: not a saved training state');
  const len = view.getUint32(4, true);
  const h = readHeader(bytes.subarray(8, 8 + len));
  checkHeader(h, want);
  const start = Math.ceil((8 + len) / 4) * 4;
  const n = want.total;
  if (bytes.length < start + 16 * n) throw new DiffusionError('loadState: the state is truncated');
  const floats = new Float32Array(bytes.slice(start, start + 16 * n).buffer);
  return { header: h, vec: { params: floats.slice(0, n), m: floats.slice(n, 2 * n), v: floats.slice(2 * n, 3 * n), ema: floats.slice(3 * n, 4 * n) } };
}

function readHeader(json: Uint8Array): StateHeader {
  try {
    return JSON.parse(new TextDecoder().decode(json)) as StateHeader;
  } catch (e) {
    throw new DiffusionError(`loadState: unreadable header (${(e as Error).message})`);
  }
}

function checkHeader(h: StateHeader, want: StateExpectation): void {
  if (h.format !== STATE_FORMAT) throw new DiffusionError(`loadState: format ${JSON.stringify(h.format)}, expected ${STATE_FORMAT}`);
  if (h.total !== want.total) throw new DiffusionError(`loadState: the state has ${h.total} parameters, this trainer's model ${want.total}`);
  // The lr schedule and the batch order follow from these: another value would not continue the run.
  if (h.totalSteps !== want.totalSteps) {
    throw new DiffusionError(`loadState: the state is of a run planned for ${h.totalSteps} steps, this trainer's for ${want.totalSteps} (\`steps\`)`);
  }
  if (h.batch !== want.batch) {
    throw new DiffusionError(`loadState: the state was trained at batch ${h.batch}, this trainer's step graph takes batch ${want.batch}`);
  }
}
