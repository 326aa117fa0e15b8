/** Reading a .npy file from disk: bounded, regular files only (core/node/read-limits.ts). */
import { readFileLimited } from '../core/node/read-limits';
import { decodeNpy, type NpyArray } from './npy';

/** Reads and decodes `file`; `what` names it in errors (e.g. "--input x"). */
export function readNpyFile(file: string, what = '.npy file'): NpyArray {
  return decodeNpy(readFileLimited(file, 'npy', what), file);
}
