/**
 * `folder:DIR`: PNG/JPEG/WebP images in DIR and in its sub-folders (one level). Images are resized
 * (cover) and centre-cropped to the requested size and channels. When every image sits in a
 * sub-folder, the sorted sub-folder names are the classes. An optional DIR/labels.csv adds
 * multi-hot labels (see labels-csv.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import { readImageBytes } from '../image/read';
import type { Dataset, DatasetRequest } from './dataset';
import { readLabelsCsv } from './labels-csv';
import { MemoryDataset } from './memory';
// One list for image folders and captioned pictures (data/caption-text.ts is browser-safe, so it holds it).
import { IMAGE_EXTENSIONS } from './caption-text';

export { IMAGE_EXTENSIONS };

function isImage(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Image paths relative to `dir` (forward slashes), sorted; one level of sub-folders when `nested`. */
export function listImages(dir: string, nested: boolean): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new DiffusionError(`${dir}: not a folder`);
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isFile() && isImage(entry.name)) out.push(entry.name);
    else if (nested && entry.isDirectory()) {
      for (const sub of readdirSync(join(dir, entry.name)).sort()) {
        if (!sub.startsWith('.') && isImage(sub)) out.push(`${entry.name}/${sub}`);
      }
    }
  }
  return out;
}

/** Decodes images (a few at a time) into one uint8 block of CHW images. */
export async function decodeAll(dir: string, files: string[], channels: number, size: number): Promise<Uint8Array> {
  if (channels !== 1 && channels !== 3) throw new DiffusionError(`${dir}: image folders give 1 or 3 channels, not ${channels}`);
  const per = channels * size * size;
  const out = new Uint8Array(files.length * per);
  const chunk = 16;
  for (let start = 0; start < files.length; start += chunk) {
    await Promise.all(
      files.slice(start, start + chunk).map(async (f, k) => {
        out.set(await readImageBytes(join(dir, f), { channels, size }), (start + k) * per);
      }),
    );
  }
  return out;
}

export async function openFolder(dir: string, want: DatasetRequest): Promise<Dataset> {
  const files = listImages(dir, true);
  if (files.length === 0) {
    throw new DiffusionError(`${dir}: no images found (looked for ${IMAGE_EXTENSIONS.join(' ')} here and one sub-folder deep)`);
  }
  const images = await decodeAll(dir, files, want.channels, want.size);

  let labels: Int32Array | undefined;
  let classNames: string[] | undefined;
  if (files.every((f) => f.includes('/'))) {
    classNames = [...new Set(files.map((f) => f.split('/')[0]))].sort();
    const ids = classNames;
    labels = Int32Array.from(files, (f) => ids.indexOf(f.split('/')[0]));
  }

  let multiLabels: Uint8Array | undefined;
  let labelDim: number | undefined;
  const csv = join(dir, 'labels.csv');
  if (existsSync(csv)) {
    const table = readLabelsCsv(csv);
    labelDim = table.names.length;
    multiLabels = new Uint8Array(files.length * labelDim);
    const known = new Set(files);
    for (const key of table.rows.keys()) {
      if (!known.has(key)) throw new FileFormatError(csv, `lists '${key}', which is not an image in ${dir}`);
    }
    files.forEach((f, i) => {
      const row = table.rows.get(f);
      if (row === undefined) throw new FileFormatError(csv, `no row for image '${f}'`);
      multiLabels?.set(row, i * (labelDim ?? 0));
    });
  }

  return new MemoryDataset({
    name: `folder:${dir}`,
    length: files.length,
    channels: want.channels,
    height: want.size,
    width: want.size,
    images,
    labels,
    numClasses: classNames?.length,
    classNames,
    multiLabels,
    labelDim,
  });
}
