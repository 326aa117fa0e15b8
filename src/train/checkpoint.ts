import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoaderState } from '../data/loader';
import type { RngState } from '../diffusion/rng';
import { FileFormatError } from '../errors';
import type { EvalPoint } from './eval-log';

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

export interface TrainVectors {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  ema: Float32Array;
}

const VECTORS = ['params', 'm', 'v', 'ema'] as const;

function writeRaw(path: string, a: Float32Array): void {
  writeFileSync(path, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/**
 * Writes state/ atomically: into state.tmp, then state -> state.old, state.tmp -> state, and
 * state.old removed. An interruption leaves either the old or the new state (loadState looks in
 * state.old when state is missing).
 */
export function saveState(dir: string, meta: TrainStateMeta, vec: TrainVectors): void {
  const tmp = join(dir, 'state.tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const k of VECTORS) writeRaw(join(tmp, `${k}.f32`), vec[k]);
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(meta));
  const cur = join(dir, 'state');
  const old = join(dir, 'state.old');
  rmSync(old, { recursive: true, force: true });
  if (existsSync(cur)) renameSync(cur, old);
  renameSync(tmp, cur);
  rmSync(old, { recursive: true, force: true });
}

export function loadState(dir: string): { meta: TrainStateMeta; vec: TrainVectors } {
  let sd = join(dir, 'state');
  if (!existsSync(join(sd, 'state.json')) && existsSync(join(dir, 'state.old', 'state.json'))) sd = join(dir, 'state.old');
  const metaPath = join(sd, 'state.json');
  if (!existsSync(metaPath)) throw new FileFormatError(dir, 'no training state (state/state.json) to resume from');
  let meta: TrainStateMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as TrainStateMeta;
  } catch (e) {
    throw new FileFormatError(metaPath, `unreadable training state: ${(e as Error).message}`);
  }
  const read = (k: string): Float32Array => {
    const p = join(sd, `${k}.f32`);
    const buf = readFileSync(p);
    if (buf.byteLength !== meta.total * 4) throw new FileFormatError(p, `has ${buf.byteLength} bytes, expected ${meta.total * 4}`);
    const out = new Float32Array(meta.total);
    new Uint8Array(out.buffer).set(buf);
    return out;
  };
  return { meta, vec: { params: read('params'), m: read('m'), v: read('v'), ema: read('ema') } };
}
