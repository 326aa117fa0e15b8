/**
 * Folders this program creates beside an output (staging copies, a replaced run kept until the new
 * one is in place) and may later delete. Such a folder is named `TARGET.<tag>-<pid>-<id>` (id: 16
 * random hex digits) and holds a marker file `.onnx-diffusion-owner` with the same pid, id, host
 * and target. Cleanup deletes a folder only when all of these agree and the pid is dead on this
 * host, so nothing a user made (`run.backup.old-20240101/`, `run.csv.tmp-31337`) is ever touched:
 * a user would have to plant the marker with a matching random id to lose a folder.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileError } from '../fs-errors';

export const OWNER_FILE = '.onnx-diffusion-owner';
export type OwnedTag = 'tmp' | 'old';

interface Owner {
  pid: number;
  id: string;
  host: string;
  target: string;
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A fresh name `TARGET.<tag>-<pid>-<id>` beside `target` (not created). */
export function ownedName(target: string, tag: OwnedTag): { path: string; id: string } {
  const id = randomBytes(8).toString('hex');
  return { path: `${target}.${tag}-${process.pid}-${id}`, id };
}

/** Writes the marker into `folder` (which exists), proving it is this process's copy of `target`. */
export function markOwned(folder: string, target: string, id: string): void {
  const owner: Owner = { pid: process.pid, id, host: os.hostname(), target: path.basename(target) };
  try {
    fs.writeFileSync(path.join(folder, OWNER_FILE), JSON.stringify(owner));
  } catch (e) {
    throw fileError(folder, 'cannot write the owner marker', e);
  }
}

/** Creates `TARGET.<tag>-<pid>-<id>/` with its marker and returns its path. */
export function makeOwnedFolder(target: string, tag: OwnedTag): string {
  const { path: p, id } = ownedName(target, tag);
  try {
    fs.mkdirSync(p, { recursive: true });
  } catch (e) {
    throw fileError(p, 'cannot create the folder', e);
  }
  markOwned(p, target, id);
  return p;
}

/** The marker of `folder` when it proves the folder is a copy of `target` made under that name; else undefined. */
function provenOwner(folder: string, target: string, tag: OwnedTag): Owner | undefined {
  const m = new RegExp(`^${escape(path.basename(target))}\\.${tag}-(\\d+)-([0-9a-f]{16})$`).exec(path.basename(folder));
  if (!m) return undefined;
  try {
    if (!fs.lstatSync(folder).isDirectory()) return undefined;
    const marker = path.join(folder, OWNER_FILE);
    const st = fs.lstatSync(marker);
    if (!st.isFile() || st.size > 4096) return undefined;
    const o = JSON.parse(fs.readFileSync(marker, 'utf8')) as Owner;
    const ok = o.pid === Number(m[1]) && o.id === m[2] && o.host === os.hostname() && o.target === path.basename(target);
    return ok ? o : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Folders beside `target` that a dead process of this program made for it under `tag` (proven by
 * name and marker). Anything else, whatever its name, is not listed.
 */
export function deadOwnedFolders(target: string, tag: OwnedTag): string[] {
  const parent = path.dirname(target);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const prefix = `${path.basename(target)}.${tag}-`;
  return names.filter((n) => n.startsWith(prefix)).map((n) => path.join(parent, n)).filter((p) => {
    const o = provenOwner(p, target, tag);
    return o !== undefined && o.pid !== process.pid && !pidAlive(o.pid);
  });
}

/** Staging folders (`*.tmp-<pid>-<id>`) of dead writers anywhere in `folder`, each proven against its own target name. */
export function deadStagingIn(folder: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const m = /^(.+)\.tmp-\d+-[0-9a-f]{16}$/.exec(n);
    if (!m) return [];
    const p = path.join(folder, n);
    const o = provenOwner(p, path.join(folder, m[1]), 'tmp');
    return o !== undefined && o.pid !== process.pid && !pidAlive(o.pid) ? [p] : [];
  });
}

/** Removes the marker from a folder that has become a real output (a staging folder renamed into place). */
export function unmark(folder: string): void {
  fs.rmSync(path.join(folder, OWNER_FILE), { force: true });
}
