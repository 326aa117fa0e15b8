/**
 * The caption cache of a text-to-image run: every picture of `captions:FOLDER` through the VAE
 * encoder and every caption through the text encoder ONCE, kept in RUN/cache/ and reused on
 * resume, so a training step only runs the UNet.
 *
 *   cache/latents.npy     float32 [n, C, h, w]  scaling_factor * the VAE encoder's mean latents
 *   cache/embeddings.npy  float32 [n, L, D]     the text encoder's last_hidden_state per caption
 *   cache/empty.npy       float32 [1, L, D]     the empty prompt's, for caption dropout
 *   cache/index.json      the files, their captions and SHA-256 hashes, the sizes: a changed data set is detected
 *
 * Latents are the encoder's MEAN (diffusers' latent_dist.mode()), not one cached draw of
 * latent_dist.sample(): diffusers' train_text_to_image.py draws anew at every step, and a single
 * cached draw would be a fixed, arbitrary perturbation of each picture for the whole run; the mean
 * is the reproducible choice and what this project's img2img encodes (diffusion/sd/vae.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import { readFileLimited } from '../core/node/read-limits';
import { captionFileOf, METADATA_FILE } from '../data/caption-text';
import { listCaptioned, readCaptionedImage, type CaptionedItem } from '../data/captions';
import type { Dataset } from '../data/dataset';
import { decodeNpy, encodeNpy, npyToFloat32 } from '../data/npy';
import type { StableDiffusion } from '../diffusion/sd/pipeline';
import { captionDataset, checkCaptionLengths, encodeCaptions, type EncodeProgress } from './caption-encode';

export type { EncodeProgress } from './caption-encode';

export const CACHE_DIR = 'cache';
const INDEX_VERSION = 1;

export interface CacheIndexItem {
  file: string;
  caption: string;
  captionSha256: string;
  imageSha256: string;
}

export interface CacheIndex {
  version: number;
  /** The captions folder (absolute). */
  data: string;
  /** Pixels the pictures were resized and centre-cropped to. */
  resolution: number;
  latentDims: number[];
  embeddingDims: number[];
  scalingFactor: number;
  items: CacheIndexItem[];
}

/** What the run trains on: latents, embeddings and the empty prompt's embedding. */
export interface CaptionCache {
  index: CacheIndex;
  latents: Float32Array;
  embeddings: Float32Array;
  empty: Float32Array;
  /** Pictures encoded by this call (0 when the cache was reused). */
  encoded: number;
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Where an item's caption came from, for errors: metadata.jsonl or the .txt beside the picture. */
function captionFile(folder: string, item: CaptionedItem): string {
  const meta = join(folder, METADATA_FILE);
  return existsSync(meta) ? meta : join(folder, captionFileOf(item.file));
}

function indexItems(folder: string, items: CaptionedItem[]): CacheIndexItem[] {
  return items.map((it) => ({
    file: it.file,
    caption: it.caption,
    captionSha256: sha256(it.caption),
    imageSha256: sha256(readFileLimited(join(folder, it.file), 'image', 'image')),
  }));
}

function readNpy(file: string): { data: Float32Array; shape: number[] } {
  const a = decodeNpy(readFileLimited(file, 'state', 'cache array'), file);
  return { data: npyToFloat32(a), shape: a.shape };
}

/** Lists FOLDER's captioned pictures and decodes each once (small), so a bad file is named before any encoder runs. */
export async function checkCaptionFolder(folder: string): Promise<void> {
  for (const it of listCaptioned(folder)) await readCaptionedImage(folder, it, 8);
}

/** Reads RUN/cache/, checking the data folder (when it still exists) against its index. */
function loadCache(dir: string, folder: string): CaptionCache {
  const file = join(dir, 'index.json');
  let index: CacheIndex;
  try {
    index = JSON.parse(readFileSync(file, 'utf8')) as CacheIndex;
  } catch (e) {
    throw new FileFormatError(file, `cannot read the caption cache's index (${(e as Error).message.split('\n')[0]})`);
  }
  if (index.version !== INDEX_VERSION || !Array.isArray(index.items)) throw new FileFormatError(file, `not a caption cache index of version ${INDEX_VERSION}`);
  if (existsSync(folder)) {
    const now = indexItems(folder, listCaptioned(folder));
    const old = new Map(index.items.map((it) => [it.file, it]));
    for (const it of now) {
      const was = old.get(it.file);
      const what = !was ? 'was added'
        : was.imageSha256 !== it.imageSha256 ? 'changed'
          : was.captionSha256 !== it.captionSha256 ? 'has a changed caption' : undefined;
      if (what) {
        throw new DiffusionError(`${join(folder, it.file)}: ${what} since the run's caption cache (${file}) was made; `
          + 'a resumed run trains on the data it started with: restore the folder or start a new run');
      }
      old.delete(it.file);
    }
    const gone = [...old.keys()][0];
    if (gone !== undefined) {
      throw new DiffusionError(`${join(folder, gone)}: removed since the run's caption cache (${file}) was made; restore it or start a new run`);
    }
  }
  const latents = readNpy(join(dir, 'latents.npy'));
  const embeddings = readNpy(join(dir, 'embeddings.npy'));
  const empty = readNpy(join(dir, 'empty.npy'));
  const n = index.items.length;
  if (latents.shape[0] !== n || embeddings.shape[0] !== n) {
    throw new FileFormatError(dir, `the cache holds ${latents.shape[0]} latents and ${embeddings.shape[0]} embeddings for ${n} pictures in index.json`);
  }
  return { index, latents: latents.data, embeddings: embeddings.data, empty: empty.data, encoded: 0 };
}

/**
 * Encodes FOLDER's pictures (resized to cover `resolution` square, centre-cropped, [-1, 1]) and
 * captions into `dir`, or reuses the cache already there. A caption longer than the text encoder
 * takes is refused (diffusers truncates silently; here nothing of a caption is dropped unseen).
 */
export async function captionCache(
  dir: string, folder: string, sd: StableDiffusion, resolution: number, onEncode?: (p: EncodeProgress) => void,
): Promise<CaptionCache> {
  if (existsSync(join(dir, 'index.json'))) return loadCache(dir, folder);
  const items = listCaptioned(folder);
  checkCaptionLengths(sd, items, (it) => captionFile(folder, it));
  const index: CacheIndex = {
    version: INDEX_VERSION, data: resolve(folder), resolution, latentDims: [], embeddingDims: [], scalingFactor: sd.parts.scalingFactor,
    items: indexItems(folder, items),
  };
  const enc = await encodeCaptions(sd, items, resolution, (it) => readCaptionedImage(folder, it, resolution), onEncode);
  const { latents, embeddings, empty } = enc;
  index.latentDims = enc.latentDims;
  index.embeddingDims = enc.embeddingDims;
  const n = items.length;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latents.npy'), encodeNpy({ dtype: 'float32', shape: [n, ...index.latentDims], data: latents }));
  writeFileSync(join(dir, 'embeddings.npy'), encodeNpy({ dtype: 'float32', shape: [n, ...index.embeddingDims], data: embeddings }));
  writeFileSync(join(dir, 'empty.npy'), encodeNpy({ dtype: 'float32', shape: [1, ...index.embeddingDims], data: empty }));
  // The index last: a cache without it is not complete (and is re-made).
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index, null, 1));
  return { index, latents, embeddings, empty, encoded: n };
}

/** The cache as a data set: latents as its images, embeddings under the UNet's conditioning input (caption-encode.ts). */
export function cacheDataset(cache: CaptionCache, folder: string): Dataset {
  return captionDataset({ ...cache.index, ...cache }, cache.index.items.length, `captions:${folder}`);
}
