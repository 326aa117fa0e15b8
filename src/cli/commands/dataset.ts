import * as path from 'node:path';
import { sharp } from '../../image/sharp';
import type { CommandModule } from 'yargs';
import { Rng } from '../../core/rng';
import { DiffusionError } from '../../core/errors';
import { imageToRgba, makeGrid, writeImage } from '../../image';
import { Dataset, openDataset } from '../../data';
import { IMAGE_EXTENSIONS, listImages } from '../../data/folder';
import { checkSeed } from '../flags';
import { checkExtension, positiveInt } from './sample';

interface DatasetArgs {
  data: string;
  n: number;
  size?: number;
  channels?: number;
  seed: number;
  upscale: number;
  border: number;
  out: string;
}

/** The shape a data set has on disk, used when --size/--channels are not given. */
export async function nativeShape(spec: string): Promise<{ channels: number; size: number }> {
  const kind = spec.split(':')[0];
  if (kind === 'cifar10') return { channels: 3, size: 32 };
  if (kind === 'synthetic') return { channels: 1, size: 32 };
  if (kind === 'folder' || kind === 'paired') {
    const dir = spec.slice(kind.length + 1);
    const files = dir ? listImages(path.join(dir, kind === 'paired' ? 'target' : ''), true) : [];
    if (files.length === 0) {
      if (kind === 'folder') throw new DiffusionError(`${dir}: no images found (looked for ${IMAGE_EXTENSIONS.join(' ')})`);
      return { channels: 3, size: 64 };
    }
    const meta = await sharp()(path.join(dir, kind === 'paired' ? 'target' : '', files[0])).metadata();
    return { channels: (meta.channels ?? 3) <= 2 ? 1 : 3, size: Math.min(meta.width ?? 64, meta.height ?? 64) };
  }
  return { channels: 1, size: 28 };
}

/** Opens --data with --size/--channels, or the data set's own shape where they are not given. */
export async function openForDisplay(spec: string, size: number | undefined, channels: number | undefined, seed: number): Promise<Dataset> {
  if (size !== undefined) positiveInt('size', size);
  if (channels !== undefined && channels !== 1 && channels !== 3) throw new DiffusionError(`--channels must be 1 or 3, got ${channels}`);
  const native = size === undefined || channels === undefined ? await nativeShape(spec) : undefined;
  return openDataset(spec, { size: size ?? native!.size, channels: channels ?? native!.channels, seed });
}

/** n distinct images chosen with a seeded shuffle (all of them, in order, when n >= length). */
export function pickImages(ds: Dataset, n: number, seed: number): { indices: number[]; images: Float32Array } {
  const all = Int32Array.from({ length: ds.length }, (_, i) => i);
  const chosen = n >= ds.length ? all : new Rng(seed).shuffle(all).slice(0, n);
  const per = ds.channels * ds.height * ds.width;
  const images = new Float32Array(chosen.length * per);
  chosen.forEach((k, i) => ds.image(k, images, i * per));
  return { indices: [...chosen], images };
}

export const datasetCommand: CommandModule<object, DatasetArgs> = {
  command: 'dataset',
  describe: 'Write a grid of training images from a data set',
  builder: (y) =>
    y
      .option('data', { type: 'string', demandOption: true, describe: 'Data set: fashion-mnist | synthetic[:N] | idx:DIR | cifar10:DIR | folder:DIR | paired:DIR' })
      .option('n', { type: 'number', default: 64, describe: 'Number of images' })
      .option('size', { type: 'number', describe: 'Image size (default: the data set\'s)' })
      .option('channels', { type: 'number', describe: '1 or 3 (default: the data set\'s)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the random choice of images' })
      .option('upscale', { type: 'number', default: 1, describe: 'Integer nearest-neighbour upscale' })
      .option('border', { type: 'number', default: 2, describe: 'Border between tiles, in output pixels' })
      .option('out', { type: 'string', demandOption: true, describe: 'Grid image (.png, .webp, .jpg)' }),
  handler: async (args) => {
    positiveInt('n', args.n);
    positiveInt('upscale', args.upscale);
    checkSeed(args.seed);
    checkExtension('out', args.out, ['.png', '.webp', '.jpg', '.jpeg']);
    const ds = await openForDisplay(args.data, args.size, args.channels, args.seed);
    if (ds.length === 0) throw new DiffusionError(`${args.data}: the data set is empty`);
    const { indices, images } = pickImages(ds, args.n, args.seed);
    const rgba = indices.map((_, i) => imageToRgba(images, i, ds.channels, ds.height, ds.width));
    const grid = makeGrid(rgba, { scale: args.upscale, border: args.border });
    await writeImage(args.out, grid);
    process.stdout.write(`wrote ${args.out} (${indices.length} of ${ds.length} images from ${ds.name}, ${grid.width}x${grid.height})\n`);
  },
};
