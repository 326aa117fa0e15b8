/**
 * CIFAR-10, binary version (Krizhevsky 2009): each record is 1 label byte then 3072 pixel bytes
 * (1024 R, 1024 G, 1024 B; rows of 32), i.e. already CHW. Spec `cifar10:DIR[:train|test|all]`:
 * the training batches data_batch_1..5.bin (those present), test_batch.bin, or both.
 */
import { existsSync } from 'node:fs';
import { readFileLimited, readTextLimited } from '../core/node/read-limits';
import { join } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { fitImages } from './fit';
import { MemoryDataset } from './memory';

export const CIFAR_RECORD = 1 + 3 * 32 * 32;
export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

export type CifarSplit = 'train' | 'test' | 'all';

/** Reads the class names from batches.meta.txt (one per line) when present. */
function classNames(dir: string): string[] {
  const meta = join(dir, 'batches.meta.txt');
  if (!existsSync(meta)) return CIFAR10_CLASSES;
  const names = readTextLimited(meta, 'text', 'CIFAR-10 class names').split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  return names.length > 0 ? names : CIFAR10_CLASSES;
}

/** Parses one binary batch file into labels and CHW pixels. */
export function readCifarBatch(file: string): { labels: Uint8Array; images: Uint8Array; n: number } {
  const bytes = readFileLimited(file, 'cifar', 'CIFAR-10 batch');
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) {
    throw new FileFormatError(
      file,
      `size ${bytes.length} is not a multiple of the CIFAR-10 record size ${CIFAR_RECORD} (1 label + 3072 pixel bytes)`,
    );
  }
  const n = bytes.length / CIFAR_RECORD;
  const labels = new Uint8Array(n);
  const images = new Uint8Array(n * (CIFAR_RECORD - 1));
  for (let i = 0; i < n; i++) {
    labels[i] = bytes[i * CIFAR_RECORD];
    images.set(bytes.subarray(i * CIFAR_RECORD + 1, (i + 1) * CIFAR_RECORD), i * (CIFAR_RECORD - 1));
  }
  return { labels, images, n };
}

/** Opens the CIFAR-10 binary batches in `dir` (or in its cifar-10-batches-bin sub-folder). */
export async function openCifar10(dir: string, split: CifarSplit, want: DatasetRequest): Promise<Dataset> {
  const root = existsSync(join(dir, 'cifar-10-batches-bin')) ? join(dir, 'cifar-10-batches-bin') : dir;
  const train = [1, 2, 3, 4, 5].map((k) => join(root, `data_batch_${k}.bin`));
  const wanted = split === 'train' ? train : split === 'test' ? [join(root, 'test_batch.bin')] : [...train, join(root, 'test_batch.bin')];
  const files = wanted.filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new DiffusionError(`${dir}: no CIFAR-10 binary batches found (expected data_batch_1..5.bin or test_batch.bin)`);
  }
  const batches = files.map(readCifarBatch);
  const n = batches.reduce((a, b) => a + b.n, 0);
  const names = classNames(root);
  const labels = new Int32Array(n);
  const pixels = new Uint8Array(n * (CIFAR_RECORD - 1));
  let at = 0;
  batches.forEach((b, k) => {
    for (let i = 0; i < b.n; i++) {
      if (b.labels[i] >= names.length) {
        throw new FileFormatError(files[k], `record ${i} has label ${b.labels[i]}, expected 0..${names.length - 1}`);
      }
      labels[at + i] = b.labels[i];
    }
    pixels.set(b.images, at * (CIFAR_RECORD - 1));
    at += b.n;
  });
  const fitted = await fitImages({ data: pixels, n, c: 3, h: 32, w: 32 }, want, dir);
  return new MemoryDataset({
    name: `cifar10:${dir}`,
    length: n,
    channels: fitted.c,
    height: fitted.h,
    width: fitted.w,
    images: fitted.data,
    labels,
    numClasses: names.length,
    classNames: names,
  });
}
