/** File-system failures as one-line errors that name the path (Node's ENOSPC/EISDIR messages often do not). */
import { FileFormatError } from './errors';

const WHY: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder not empty',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  EIO: 'input/output error',
};

/** `path: doing (reason)` for a Node file-system error `e`. */
export function fileError(path: string, doing: string, e: unknown): FileFormatError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FileFormatError(path, `no such file (${doing})`);
  const why = (code && WHY[code]) ?? (code ? `${code}` : (e as Error).message.split('\n')[0]);
  return new FileFormatError(path, `${doing} (${why}${code && WHY[code] ? `, ${code}` : ''})`);
}
