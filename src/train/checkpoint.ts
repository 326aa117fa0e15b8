import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoaderState } from '../data/loader';
import type { RngState } from '../core/rng';
import { fileError } from '../core/fs-errors';
import { readFileLimited, readTextLimited } from '../core/node/read-limits';
import { FileFormatError } from '../core/errors';
import { oldStates } from './run-dir';
import type { EvalPoint } from './eval-log';
import type { TrainVectors } from './train-graph';

export type { TrainVectors } from './train-graph';

/** Everything besides the four vectors that `--resume` needs to continue bit for bit. */
export interface TrainStateMeta {
  step: number;
  totalSteps: number;
  rng: RngState;
  loader: LoaderState;
  /** Parameter count, to catch a state that belongs to another model. */
  total: number;
  losses: number[];
  /** Scores of `train --eval-every` (eval-log.ts), oldest first. */
  evals?: EvalPoint[];
}


const VECTORS = ['params', 'm', 'v', 'ema'] as const;

/** A file-system step whose failure names its path. */
function fsStep(path: string, doing: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    throw fileError(path, doing, e);
  }
}

function writeRaw(path: string, a: Float32Array | string): void {
  fsStep(path, 'cannot write', () => writeFileSync(path, typeof a === 'string' ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength)));
}

/**
 * Writes state/ atomically: into state.tmp-<pid>, then state -> state.old-<pid>, state.tmp-<pid>
 * -> state, and state.old-<pid> removed. An interruption leaves either the old or the new state
 * (loadState looks in state.old-* when state is missing). Temp names are per process; the run
 * folder's lock keeps a second writer out.
 */
export function saveState(dir: string, meta: TrainStateMeta, vec: TrainVectors): void {
  const tmp = join(dir, `state.tmp-${process.pid}`);
  fsStep(tmp, 'cannot create the folder', () => {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
  });
  try {
    for (const k of VECTORS) writeRaw(join(tmp, `${k}.f32`), vec[k]);
    writeRaw(join(tmp, 'state.json'), JSON.stringify(meta));
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const cur = join(dir, 'state');
  const old = join(dir, `state.old-${process.pid}`);
  fsStep(old, 'cannot replace', () => {
    rmSync(old, { recursive: true, force: true });
    if (existsSync(cur)) renameSync(cur, old);
    renameSync(tmp, cur);
    rmSync(old, { recursive: true, force: true });
  });
}

export function loadState(dir: string): { meta: TrainStateMeta; vec: TrainVectors } {
  let sd = join(dir, 'state');
  if (!existsSync(join(sd, 'state.json'))) sd = oldStates(dir)[0] ?? sd;
  const metaPath = join(sd, 'state.json');
  if (!existsSync(metaPath)) throw new FileFormatError(dir, 'this run has no checkpoint yet (no state/state.json to resume from)');
  let meta: TrainStateMeta;
  try {
    meta = JSON.parse(readTextLimited(metaPath, 'json', 'training state')) as TrainStateMeta;
  } catch (e) {
    throw new FileFormatError(metaPath, `unreadable training state: ${(e as Error).message}`);
  }
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!meta || !int(meta.step) || !int(meta.total) || !Array.isArray(meta.losses)) throw new FileFormatError(metaPath, 'training state lacks step, total or losses');
  const read = (k: string): Float32Array => {
    const p = join(sd, `${k}.f32`);
    let buf: Buffer = Buffer.alloc(0);
    buf = readFileLimited(p, 'state', 'training state vector');
    if (buf.byteLength !== meta.total * 4) throw new FileFormatError(p, `has ${buf.byteLength} bytes, expected ${meta.total * 4}`);
    const out = new Float32Array(meta.total);
    new Uint8Array(out.buffer).set(buf);
    return out;
  };
  return { meta, vec: { params: read('params'), m: read('m'), v: read('v'), ema: read('ema') } };
}
