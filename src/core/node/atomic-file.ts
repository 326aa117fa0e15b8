/**
 * Atomic file writes: the bytes go to a private staging folder beside `path`
 * (`path.tmp-<pid>-<id>/`, marked as this program's: core/node/owned.ts) and the file is renamed
 * over `path`, so an interrupted run leaves either the old file or the new one, never half of one.
 * A writer killed mid-write leaves its staging folder; the next writer to the same `path` removes
 * it (only folders proven to be ours, never a user's `path.tmp-123`).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileError } from '../fs-errors';
import { deadOwnedFolders, makeOwnedFolder } from './owned';

/** Removes the staging folders that killed writers of `path` left. */
export function cleanStaleWrites(path: string): void {
  for (const p of deadOwnedFolders(path, 'tmp')) rmSync(p, { recursive: true, force: true });
}

/** Writes `data` to `path` atomically, creating parent folders. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw fileError(dirname(path), 'cannot create the folder', err);
  }
  cleanStaleWrites(path);
  const staging = makeOwnedFolder(path, 'tmp');
  const tmp = join(staging, basename(path));
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    throw fileError(path, 'cannot write', err);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
