/** Tiny recipes and temp folders for the pipeline tests: 8-16 px, base 8, two levels, no attention. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { buildModel, validateRecipe } from '../../src/nn';
import type { Recipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { repoRoot } from '../helpers/paths';

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'od-pipelines-'));
export const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

export const TINY_UNET = { base: 8, mults: [1, 1], resBlocks: 1, attention: [], heads: 1, groups: 4, dropout: 0 };
export const TINY_DIFFUSION = { timesteps: 100, schedule: 'linear', betaStart: 0.0001, betaEnd: 0.02, prediction: 'eps' };

/** A tiny gaussian recipe of the given size, with optional conditioning. */
export function tinyRecipe(size: number, conditioning?: object, extra: object = {}): Recipe {
  return validateRecipe({ image: { channels: 1, size }, unet: TINY_UNET, diffusion: TINY_DIFFUSION, ...(conditioning ? { conditioning } : {}), ...extra }, `tiny-${size}`);
}

/** A shipped recipe (graphs/NAME.json) with its UNet shrunk to TINY_UNET and its image to `size`; kind, conditioning and diffusion kept. */
export function shrunkRecipe(name: string, size: number, unet: object = {}): Recipe {
  const r = JSON.parse(readFileSync(join(repoRoot(), 'graphs', `${name}.json`), 'utf8')) as Record<string, unknown> & { unet: Record<string, unknown>; image: object };
  delete r.description;
  return validateRecipe({ ...r, image: { ...r.image, size }, unet: { ...TINY_UNET, ...(r.unet.context ? { context: r.unet.context } : {}), ...unet } }, `${name} (shrunk)`);
}

/** Writes an untrained model.onnx from a recipe; returns its path. */
export function writeModel(file: string, recipe: Recipe, seed = 0): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encodeModel(buildModel(recipe, { seed })));
  return file;
}

/** Writes a w x w grey PNG: a gradient, a bright square or a dark square (so the data has structure). */
export async function writeGrey(file: string, w: number, pattern: number): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const px = Buffer.alloc(w * w);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const inSquare = x >= w / 4 && x < (3 * w) / 4 && y >= w / 4 && y < (3 * w) / 4;
      px[y * w + x] = pattern % 3 === 0 ? Math.round((255 * x) / (w - 1)) : pattern % 3 === 1 ? (inSquare ? 230 : 20) : (inSquare ? 20 : 230);
    }
  }
  await sharp(px, { raw: { width: w, height: w, channels: 1 } }).png().toFile(file);
}
