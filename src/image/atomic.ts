/**
 * Atomic file writes: the bytes go to `path.tmp-<pid>` and are renamed over `path`, so an
 * interrupted run leaves either the old file or the new one, never half of one.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileError } from '../core/fs-errors';

/** Temporary name used while `path` is being written. */
export function tmpPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** Writes `data` to `path` atomically, creating parent folders. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw fileError(dirname(path), 'cannot create the folder', err);
  }
  const tmp = tmpPathFor(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fileError(path, 'cannot write', err);
  }
}
