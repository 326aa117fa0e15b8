/**
 * Fine-tuning a diffusers ONNX pipeline folder from captioned pictures:
 * `train --init DIR --data captions:FOLDER [--lora R] [--cond-dropout P] [--sample-every N]`.
 *
 * DIR's UNet trains as exported (train/foreign-model.ts) on latents and text embeddings that
 * caption-cache.ts computes once per run. The config comes from DIR: the schedule from
 * scheduler/scheduler_config.json, the latent shape from the VAE encoder's output, the
 * conditioning shape from the text encoder's. Caption dropout replaces a picture's embedding by
 * the EMPTY PROMPT's (as diffusers' train_text_to_image.py and kohya's scripts do), which is the
 * unconditional branch classifier-free guidance runs at sampling. The result is RUN/pipeline/, a
 * diffusers folder pipeline() loads (the trained UNet, the other parts linked from DIR), or with
 * `lora` RUN/adapter.safetensors for `pipeline(DIR, { lora })`.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { InferenceSession } from 'onnxruntime-common';
import { diffusionConfigFromScheduler } from '../core/diffusers-config';
import { DiffusionError, OptionError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { StableDiffusion, type SdOrt } from '../diffusion/sd/pipeline';
import { makeGrid, writePng } from '../image';
import type { Model } from '../onnx/ir';
import { encodeModel } from '../onnx/proto';
import { ortNode } from '../runtime/ort-node';
import { sessionOptions } from '../runtime/node';
import { isStableDiffusionFolder, loadStableDiffusion, type StableDiffusionPipeline } from '../runtime/sd';
import { CACHE_DIR, captionCache, cacheDataset, checkCaptionFolder, type CaptionCache } from './caption-cache';
import { captionedUnetConfig, firstCaptions, TEXT_INPUT } from './caption-encode';
import type { TrainOptions } from './options';

export const CAPTIONS_PREFIX = 'captions:';
/** The folder a full fine-tune writes: DIR's layout with the trained UNet. */
export const PIPELINE_DIR = 'pipeline';
/** Scheduler steps of the prompt grid (--sample-every); the folder's scheduler, guidance 7.5, seed 0. */
export const GRID_STEPS = 25;
const GRID_PROMPTS = 4;
/** The batch of a captioned run when none is given (small: every picture is a full UNet pass). */
const DEFAULT_BATCH = 4;

export interface CaptionedRun {
  /** The run's options: `batch` defaulted for a fresh run. */
  options: TrainOptions;
  /** What setupModel gets: `init` the folder's unet/model.onnx and its config, for a fresh run. */
  setupOptions: TrainOptions;
  dataset: Dataset;
  cache: CaptionCache;
  /** Per conditioning input, the value a dropped caption gets: the empty prompt's embedding. */
  nullTensors: Record<string, Float32Array>;
  /** Draws the prompt grid through the pipeline with `unet` (the current weights) to OUT/samples/. */
  writeSamples(out: string, unet: Model, step: number): Promise<void>;
  /** A full fine-tune's OUT/pipeline/: DIR's parts linked (or copied), OUT/model.onnx as unet/model.onnx. */
  writePipeline(out: string): void;
  release(): Promise<void>;
}

export const isCaptionData = (spec: string | undefined): spec is string => typeof spec === 'string' && spec.startsWith(CAPTIONS_PREFIX);

function savedRunOptions(dir: string): TrainOptions {
  const file = join(dir, 'train.json');
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { options: TrainOptions }).options;
  } catch (e) {
    throw new DiffusionError(`${file}: cannot read the run's options (${(e as Error).message.split('\n')[0]})`);
  }
}

/**
 * The captioned side of a run, or undefined when `o` (or the resumed run's saved options) does
 * not train on `captions:` data. `runPath` is where outputs go now (RunDir.path).
 */
export async function openCaptionedRun(o: TrainOptions, runPath: string): Promise<CaptionedRun | undefined> {
  const saved = o.resume !== undefined && existsSync(join(o.resume, 'train.json')) ? savedRunOptions(o.resume) : undefined;
  const base = saved ?? o;
  if (!isCaptionData(base.data)) {
    if (o.init !== undefined && isStableDiffusionFolder(o.init)) {
      throw new OptionError('data',
        `must be captions:FOLDER when \`init\` is a diffusers pipeline folder (${o.init}); for other data give its unet/model.onnx and \`config\``);
    }
    return undefined;
  }
  const folder = base.data.slice(CAPTIONS_PREFIX.length);
  if (folder === '') throw new OptionError('data', "captions: needs a folder (captions:FOLDER, pictures with same-named .txt captions or a metadata.jsonl)");
  const dir = base.init;
  if (dir === undefined || !isStableDiffusionFolder(dir)) {
    throw new OptionError('init',
      `must be a diffusers ONNX pipeline folder (text_encoder/, tokenizer/, unet/, vae_encoder/) to train on captions: data, got ${dir ?? 'none'}`);
  }
  if (!saved) {
    if (o.config !== undefined) throw new OptionError('config', `is read from the pipeline folder ${dir} (scheduler/, unet/, vae_encoder/); drop it`);
    if (o.flip) {
      throw new OptionError('flip',
        'does not apply to captioned pictures: their latents are encoded once, and a flipped latent is not the latent of the flipped picture');
    }
    if (o.resolution !== undefined && !(Number.isInteger(o.resolution) && o.resolution > 0)) {
      throw new OptionError('resolution', `must be a positive integer (pixels), got ${String(o.resolution)}`);
    }
  }
  // The pictures and captions are checked before any session is made (a bad file fails in a second).
  if (!existsSync(join(runPath, CACHE_DIR, 'index.json'))) await checkCaptionFolder(folder);
  // The folder's UNet gets no session: the step graph holds its weights, and the grids open the trained ones.
  const sd = await loadStableDiffusion(dir, { threads: o.threads, device: o.device, deviceId: o.deviceId, openUnet: false });
  try {
    const parts = sd.sd.parts;
    const resolution = base.resolution ?? (parts.sampleSize !== undefined ? parts.sampleSize * parts.vaeScaleFactor : undefined);
    if (resolution === undefined) {
      throw new OptionError('resolution',
        `is needed: ${dir} has no unet/config.json sample_size; give the training size in pixels (e.g. 512: the UNet's latent size times the VAE's factor)`);
    }
    for (const p of base.samplePrompts ?? []) {
      const { truncated } = parts.tokenizer.encode(p);
      const room = parts.tokenizer.maxLength - 2;
      if (truncated > 0) throw new OptionError('samplePrompts', `'${p.slice(0, 40)}...' is ${room + truncated} tokens; the text encoder takes ${room}`);
    }
    const cache = await captionCache(join(runPath, CACHE_DIR), folder, sd.sd, resolution, o.onEncode);
    const dataset = cacheDataset(cache, folder);
    const options: TrainOptions = saved ? o : { ...o, batch: o.batch ?? Math.min(DEFAULT_BATCH, dataset.length), resolution };
    const scheduler = JSON.parse(readFileSync(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8')) as unknown;
    const size = cache.index.latentDims[1];
    const config = captionedUnetConfig(cache.index, diffusionConfigFromScheduler(scheduler, join(dir, 'scheduler', 'scheduler_config.json')));
    const setupOptions: TrainOptions = saved ? o : { ...options, init: join(dir, 'unet', 'model.onnx'), config };
    const prompts = base.samplePrompts ?? firstCaptions(cache.index.items, GRID_PROMPTS);
    return {
      options, setupOptions, dataset, cache,
      nullTensors: { [TEXT_INPUT]: cache.empty },
      // The pipeline's height is in its own pixels (latents times its VAE factor, 8 without a vae config): the trained latent size.
      writeSamples: (out, unet, step) =>
        promptGrid(sd, unet, prompts, size * parts.vaeScaleFactor, join(out, 'samples', `step-${String(step).padStart(6, '0')}.png`), o.threads),
      writePipeline: (out) => linkPipeline(dir, out),
      release: () => sd.release(),
    };
  } catch (e) {
    await sd.release();
    throw e;
  }
}

/** One row of images, one per prompt, from the pipeline with `unet` in place of the folder's. */
async function promptGrid(sd: StableDiffusionPipeline, unet: Model, prompts: string[], height: number, file: string, threads?: number): Promise<void> {
  const ort = ortNode();
  let session: InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(encodeModel(unet), sessionOptions({ threads }));
    const current = new StableDiffusion({ ...sd.sd.parts, unet: { session, source: 'the trained UNet' } }, ort as unknown as SdOrt);
    const images = [];
    for (const prompt of prompts) {
      const r = await current.generate({ prompt, steps: GRID_STEPS, seed: 0, height, width: height });
      images.push(...r.rgba);
    }
    await writePng(file, makeGrid(images, { scale: Math.max(1, Math.round(64 / images[0].width)) }));
  } finally {
    await session?.release();
  }
}

/** A file of DIR into the new folder: a hard link when the file system allows, else a copy. */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    if (statSync(src).isDirectory()) linkTree(src, join(to, name));
    else linkOrCopy(src, join(to, name));
  }
}

/** DIR's component folders: model_index.json's entries that name a class, else the usual ones. */
function components(dir: string): string[] {
  const index = join(dir, 'model_index.json');
  if (!existsSync(index)) return ['scheduler', 'tokenizer', 'text_encoder', 'vae_encoder', 'vae_decoder'];
  const j = JSON.parse(readFileSync(index, 'utf8')) as Record<string, unknown>;
  return Object.entries(j).filter(([k, v]) => !k.startsWith('_') && Array.isArray(v) && v[0] !== null).map(([k]) => k);
}

function linkPipeline(dir: string, out: string): void {
  const target = join(out, PIPELINE_DIR);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(join(target, 'unet'), { recursive: true });
  if (existsSync(join(dir, 'model_index.json'))) linkOrCopy(join(dir, 'model_index.json'), join(target, 'model_index.json'));
  for (const name of components(dir)) {
    if (name !== 'unet' && existsSync(join(dir, name)) && statSync(join(dir, name)).isDirectory()) linkTree(join(dir, name), join(target, name));
  }
  const unetConfig = join(dir, 'unet', 'config.json');
  if (existsSync(unetConfig)) linkOrCopy(unetConfig, join(target, 'unet', 'config.json'));
  // The trained UNet holds its weights inline (model.onnx as the checkpoint writes it).
  linkOrCopy(resolve(out, 'model.onnx'), join(target, 'unet', 'model.onnx'));
}
