/**
 * `paired:DIR`: image-to-image pairs. DIR/target/ holds the images to generate, DIR/cond/ the
 * condition images, matched by file name without extension (a.png pairs with a.jpg).
 */
import { basename, extname, join } from 'node:path';
import { DiffusionError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { decodeAll, listImages } from './folder';
import { MemoryDataset } from './memory';

const stem = (f: string): string => basename(f, extname(f));

export async function openPaired(dir: string, want: DatasetRequest): Promise<Dataset> {
  const targetDir = join(dir, 'target');
  const condDir = join(dir, 'cond');
  const targets = listImages(targetDir, false);
  const conds = listImages(condDir, false);
  if (targets.length === 0) throw new DiffusionError(`${targetDir}: no images found`);
  const condByStem = new Map(conds.map((f) => [stem(f), f]));
  const targetStems = new Set(targets.map(stem));
  for (const t of targets) {
    if (!condByStem.has(stem(t))) throw new DiffusionError(`${join(targetDir, t)}: no matching condition image in ${condDir}`);
  }
  for (const c of conds) {
    if (!targetStems.has(stem(c))) throw new DiffusionError(`${join(condDir, c)}: no matching target image in ${targetDir}`);
  }
  const condChannels = want.condChannels ?? want.channels;
  const images = await decodeAll(targetDir, targets, want.channels, want.size);
  const condImages = await decodeAll(condDir, targets.map((t) => condByStem.get(stem(t)) ?? t), condChannels, want.size);
  return new MemoryDataset({
    name: `paired:${dir}`,
    length: targets.length,
    channels: want.channels,
    height: want.size,
    width: want.size,
    images,
    condImages,
    condChannels,
  });
}
