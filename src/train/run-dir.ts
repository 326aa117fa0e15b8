/**
 * A run folder as a small transactional store: at every instant it is absent, or it holds a
 * complete checkpoint that `--resume` loads.
 *
 * - A new run writes into a private sibling `DIR.tmp-<pid>-<id>` until its first checkpoint is
 *   whole, then renames it into place (with --overwrite the old run is moved to `DIR.old-<pid>-<id>`
 *   first and removed after). Both carry an owner marker (core/node/owned.ts).
 * - Later checkpoints replace state/ as one folder (checkpoint.ts), then model.onnx and train.json
 *   by atomic renames; --resume puts model.onnx back in line with state/ if a kill fell between.
 * - One writer at a time (run-lock.ts). Leftovers of killed writers are cleaned when the next
 *   writer takes the lock: only folders proven to be this program's by name and marker, so a
 *   user's `run.backup.old-20240101/` or `run.csv.tmp-31337` is never touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../core/fs-errors';
import { DiffusionError } from '../core/errors';
import { deadOwnedFolders, deadStagingIn, makeOwnedFolder, markOwned, ownedName, pidAlive, unmark } from '../core/node/owned';
import { realRunPath, RunLock } from './run-lock';

export type RunMode = 'fresh' | 'resume' | 'overwrite';

/** Per-process names checkpoint.ts gives state copies inside a run folder (the run is ours). */
const STATE_LEFTOVER = /^state\.(tmp|old)-(\d+)$/;

/** Whether `dir` holds a run: a state/ folder (or the old copy a kill left mid-swap) or a model.onnx. */
export function holdsRun(dir: string): boolean {
  return hasState(dir) || fs.existsSync(path.join(dir, 'model.onnx')) || fs.existsSync(path.join(dir, 'train.json'));
}

function hasState(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'state', 'state.json')) || oldStates(dir).length > 0;
}

/** state.old-<pid> (and the legacy state.old) folders a kill left between the two renames of a state swap. */
export function oldStates(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^state\.old(-\d+)?$/.test(n) && fs.existsSync(path.join(dir, n, 'state.json'))).map((n) => path.join(dir, n));
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isDanglingLink(p: string): boolean {
  try {
    if (!fs.lstatSync(p).isSymbolicLink()) return false;
  } catch {
    return false;
  }
  try {
    fs.statSync(p);
    return false;
  } catch {
    return true;
  }
}

function removeTree(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch (e) {
    throw fileError(p, 'cannot remove', e);
  }
}

function rename(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    throw fileError(to, `cannot rename ${from} to it`, e);
  }
}

/** Leftovers of dead writers: proven staging folders beside the run, and state copies inside it. */
function cleanLeftovers(dir: string): void {
  for (const p of deadOwnedFolders(dir, 'tmp')) removeTree(p);
  for (const p of deadOwnedFolders(dir, 'old')) {
    // A kill between the two renames of an --overwrite leaves DIR absent and the old run here: restore it.
    if (!fs.existsSync(dir)) {
      rename(p, dir);
      unmark(dir);
    } else removeTree(p);
  }
  if (!isDir(dir)) return;
  // A kill right after a staging folder was renamed into place leaves its marker: the run is whole.
  unmark(dir);
  if (!fs.existsSync(path.join(dir, 'state', 'state.json'))) {
    const old = oldStates(dir)[0];
    if (old) {
      removeTree(path.join(dir, 'state'));
      rename(old, path.join(dir, 'state'));
    }
  }
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = STATE_LEFTOVER.exec(n);
    if (n === 'state.tmp' || n === 'state.old' || (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2])))) removeTree(path.join(dir, n));
  }
  // Atomic writes killed mid-way (model.onnx, train.json, samples, previews): proven staging folders only.
  for (const sub of [dir, path.join(dir, 'samples'), path.join(dir, 'preview')]) for (const p of deadStagingIn(sub)) removeTree(p);
}

/** The folder of one training run, held exclusively while the run lives. */
export class RunDir {
  private staging: string | undefined;
  private replaced = false;

  private constructor(readonly dir: string, private readonly lock: RunLock, private readonly mode: RunMode) {
  }

  /**
   * Locks `dir` and checks it suits `mode`: a fresh run needs an absent or empty folder, a resumed
   * one a checkpoint, --overwrite a run folder (never an unrelated non-empty folder).
   */
  static open(dirIn: string, mode: RunMode): RunDir {
    const dir = realRunPath(dirIn);
    if (isDanglingLink(dirIn)) throw new DiffusionError(`${dirIn}: is a symbolic link to nothing (or a loop of links); give the run folder itself`);
    const lock = RunLock.acquire(dirIn);
    try {
      cleanLeftovers(dir);
      const exists = fs.existsSync(dir);
      if (exists && !isDir(dir)) throw new DiffusionError(`${dirIn}: is a file, not a run folder`);
      const run = exists && holdsRun(dir);
      const empty = exists && !run && fs.readdirSync(dir).length === 0;
      if (mode === 'resume') {
        if (!exists) throw new DiffusionError(`${dirIn}: no such run folder (a run stopped before its first checkpoint leaves none; start it again with \`out\`)`);
        if (!hasState(dir)) throw new DiffusionError(`${dirIn}: this run has no checkpoint yet (no state/ in it); start it with \`out\` instead of \`resume\``);
      } else if (run && mode === 'fresh') {
        throw new DiffusionError(`${dirIn}: already holds a run; pass \`resume\` ${dirIn} to continue it, or \`overwrite\` to replace it`);
      } else if (exists && !run && !empty) {
        throw new DiffusionError(`${dirIn}: the folder is not empty and holds no run; choose another \`out\``);
      }
      const rd = new RunDir(dir, lock, mode);
      if (mode !== 'resume') rd.staging = makeOwnedFolder(dir, 'tmp');
      return rd;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** Where outputs go now: the private staging folder until the first checkpoint, then the run folder. */
  get path(): string {
    return this.staging ?? this.dir;
  }

  /** Whether a checkpoint of this run is in place in the run folder. */
  get hasCheckpoint(): boolean {
    return this.staging === undefined;
  }

  /** Call after a complete checkpoint was written to `path`: the first one moves the run into place. */
  commit(): void {
    if (!this.staging) return;
    const { path: old, id } = ownedName(this.dir, 'old');
    if (fs.existsSync(this.dir)) {
      // Marked before the move, so a kill between the renames leaves a folder cleanup can prove is ours.
      markOwned(this.dir, this.dir, id);
      rename(this.dir, old);
      this.replaced = true;
    }
    rename(this.staging, this.dir);
    unmark(this.dir);
    this.staging = undefined;
    if (this.replaced) removeTree(old);
  }

  /** Ends the run: an uncommitted staging folder is removed, the lock released. */
  close(): void {
    try {
      if (this.staging) fs.rmSync(this.staging, { recursive: true, force: true });
    } finally {
      this.lock.release();
    }
  }

  get resuming(): boolean {
    return this.mode === 'resume';
  }
}
