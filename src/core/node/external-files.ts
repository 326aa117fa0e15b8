/**
 * The files beside a model in Node, for external data (src/onnx/external-data-read.ts): read
 * only inside the model's folder (no absolute path, no `..`, no symlink pointing out).
 */
import * as fs from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { FileFormatError } from '../errors';

export interface FolderFiles {
  dir: string;
  size(location: string, tensor: string): number;
  read(location: string, offset: number, length: number): Uint8Array;
}

/** True when `location` resolves (symlinks followed) outside `dir`. */
function outside(dir: string, location: string): boolean {
  const rel = (from: string, to: string) => relative(from, to);
  const leaves = (r: string) => r === '..' || r.startsWith(`..${'/'}`) || r.startsWith('..\\') || isAbsolute(r);
  if (isAbsolute(location) || leaves(rel(resolve(dir), resolve(dir, location)))) return true;
  try {
    return leaves(rel(fs.realpathSync(dir), fs.realpathSync(join(dir, location))));
  } catch {
    return false; // a missing file is reported by size()
  }
}

export function folderFiles(dir: string): FolderFiles {
  return {
    dir,
    size(location, tensor) {
      const file = join(dir, location);
      if (outside(dir, location)) throw new FileFormatError(location, `tensor '${tensor}': external data location is outside the model's folder ${dir}`);
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) throw new FileFormatError(file, `tensor '${tensor}': no such external data file`);
      return st.size;
    },
    read(location, offset, length) {
      const fd = fs.openSync(join(dir, location), 'r');
      try {
        const bytes = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const n = fs.readSync(fd, bytes, done, length - done, offset + done);
          if (n === 0) break;
          done += n;
        }
        return bytes;
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}
