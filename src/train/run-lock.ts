/**
 * One writer per run folder: an exclusive lock file `DIR.lock` beside the folder (the folder itself
 * may not exist yet) holding the writer's pid and host. A lock whose pid is dead on this host is
 * stale and taken over; a live one turns the second writer away with one line naming the holder.
 * The lock keys on the real path of the folder (symlinks resolved), so `rr` and a link `rrlink`
 * to it share one lock. The lock file is read bounded and only when it is a regular file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiffusionError } from '../core/errors';
import { fileError } from '../core/fs-errors';
import { pidAlive } from '../core/node/owned';
import { readTextLimited } from '../core/node/read-limits';

export { pidAlive };

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

/**
 * The real path of run folder `dir`: the folder itself with symlinks resolved when it exists,
 * else the real path of its parent plus its base name.
 */
export function realRunPath(dir: string): string {
  const abs = path.resolve(dir);
  try {
    return fs.realpathSync(abs);
  } catch {
    // absent (or a dangling link): key on the parent
  }
  try {
    return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}

/** The lock file of run folder `dir`, beside its real path. */
export function lockPathFor(dir: string): string {
  return `${realRunPath(dir)}.lock`;
}

type Read = LockHolder | 'unreadable' | 'symlink' | undefined;

function readHolder(file: string): Read {
  let text: string;
  try {
    if (fs.lstatSync(file).isSymbolicLink()) return 'symlink';
    text = readTextLimited(file, 'lock', 'lock file');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || /no such file/.test((e as Error).message)) return undefined;
    return 'unreadable';
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Whether a live writer (on this host) holds the lock of `dir`; the holder when so. */
export function liveHolder(dir: string): LockHolder | undefined {
  const h = readHolder(lockPathFor(dir));
  if (typeof h !== 'object') return undefined;
  return h.host !== os.hostname() || pidAlive(h.pid) ? h : undefined;
}

export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly dir: string, readonly file: string) {
    process.on('exit', this.onExit);
  }

  /** Takes the lock of `dir` or throws naming the holder. */
  static acquire(dir: string): RunLock {
    const file = lockPathFor(dir);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (e) {
      throw fileError(path.dirname(file), 'cannot create the folder', e);
    }
    const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
    // Written whole under a private name, then linked into place: the lock file is never half-written.
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(me));
    } catch (e) {
      throw fileError(tmp, 'cannot write the lock file', e);
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.linkSync(tmp, file);
          return new RunLock(dir, file);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EEXIST') throw fileError(file, 'cannot create the lock file', e);
        }
        const h = readHolder(file);
        if (h === undefined) continue;
        if (h === 'symlink') {
          const to = fs.existsSync(file) ? 'a symbolic link' : 'a dangling symbolic link';
          throw new DiffusionError(`${dir}: the lock file ${file} is ${to}, not a lock this program wrote; delete it if no run is using this folder`);
        }
        if (h === 'unreadable') {
          throw new DiffusionError(`${dir}: the lock file ${file} is unreadable or not a lock (a regular file of at most 64 KiB); delete it if no run is using this folder`);
        }
        const local = h.host === os.hostname();
        if (local && !pidAlive(h.pid)) {
          takeOverStale(file, h);
          continue;
        }
        const where = local ? '' : ` on host ${h.host} (cannot check from here; delete ${file} if that run is gone)`;
        throw new DiffusionError(`${dir}: in use by another run (pid ${h.pid}${where}, since ${h.started}); lock file ${file}`);
      }
      throw new DiffusionError(`${dir}: could not take the lock file ${file} (it keeps changing hands)`);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Removes the lock file if it is still ours. Idempotent; also runs at process exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    const h = readHolder(this.file);
    if (typeof h === 'object' && h.pid === process.pid && h.host === os.hostname()) fs.rmSync(this.file, { force: true });
  }
}

/**
 * Moves a stale lock aside under a private name, then deletes it. If what was moved turns out to
 * be a fresh lock (another process took over in between), it is linked back.
 */
function takeOverStale(file: string, stale: LockHolder): void {
  const aside = `${file}.stale-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') {
      const why = `${code}: immutable, read-only or not yours`;
      throw new DiffusionError(`${file}: stale lock (pid ${stale.pid} is gone) that cannot be removed (${why}); remove it by hand`);
    }
    return;
  }
  const moved = readHolder(aside);
  if (typeof moved === 'object' && (moved.pid !== stale.pid || moved.started !== stale.started)) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // someone else holds it now; the next attempt reads them
    }
  }
  fs.rmSync(aside, { force: true });
}
