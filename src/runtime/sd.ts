/**
 * Stable Diffusion in Node: a diffusers ONNX folder opened from the file system, sessions created
 * from each model's PATH so that ONNX Runtime resolves external data (unet/weights.pb) itself.
 * `loadStableDiffusion(dir)` returns a pipeline; `gen({ prompt })` samples.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError, FileFormatError, OptionError } from '../core/errors';
import { readImage } from '../image/read';
import { ortNode } from './ort-node';
import { sessionOptions, type SessionOptions } from './node';
import { openStableDiffusion, resolvePrecision, withUnetBytes, withUnopenedUnet, type FolderAccess, type Precision } from '../diffusion/sd/load';
import { readModelHeader } from './model-files';
import { float32Session } from './float32-session';
import type { SdOrt, SdResult, StableDiffusion, StableDiffusionOptions } from '../diffusion/sd/pipeline';
import type { LoraAdapter } from '../nn/lora';
import { unetWithLora } from './sd-lora';

/** A folder that has text_encoder/ is a text-to-image pipeline (what `pipeline(dir)` dispatches on). */
export function isStableDiffusionFolder(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory() && fs.statSync(path.join(dir, 'text_encoder')).isDirectory();
  } catch {
    return false;
  }
}

/** Node's options: the session's device and threads; `lora`, an adapter (file or object) merged into the UNet. */
export interface LoadStableDiffusionOptions extends SessionOptions {
  lora?: string | LoraAdapter;
  /** float16 parts: 'auto' (default) runs them in float16 on CUDA and widens them to float32 on the CPU. */
  precision?: Precision;
  /**
   * false: the UNet is described (its inputs and outputs) but gets no session, for a training run
   * that only encodes captions and pictures with the folder (its step graph holds the UNet's
   * weights; a session would hold them a second time). Sampling such a pipeline fails with one line.
   * @internal
   */
  openUnet?: boolean;
}

/** Node's call options: `image` may also be an image file (resized and centre-cropped to the output size). */
export interface NodeStableDiffusionOptions extends Omit<StableDiffusionOptions, 'image'> {
  image?: StableDiffusionOptions['image'] | string;
}

/** A loaded pipeline: call it to sample; `sd` gives the parts (encodePrompt, decodeLatents, ...). */
export interface StableDiffusionPipeline {
  (options: NodeStableDiffusionOptions): Promise<SdResult>;
  readonly sd: StableDiffusion;
  readonly dir: string;
  /** Frees every session. */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

function nodeFolder(dir: string, opts: LoadStableDiffusionOptions): FolderAccess {
  const so = sessionOptions(opts);
  const precision = resolvePrecision(opts.precision, opts.device === 'cuda');
  const file = (rel: string) => path.join(dir, rel);
  const missing = (rel: string): never => {
    throw new FileFormatError(file(rel), 'not found (a diffusers ONNX pipeline folder has text_encoder/, unet/, vae_decoder/ model.onnx files)');
  };
  return {
    source: dir,
    async text(rel) {
      try {
        return fs.readFileSync(file(rel), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new FileFormatError(file(rel), `cannot read it (${(e as Error).message})`);
      }
    },
    async bytes(rel) {
      if (!fs.existsSync(file(rel))) missing(rel);
      return fs.readFileSync(file(rel));
    },
    async session(rel, bytes): Promise<InferenceSession> {
      if (!bytes && !fs.existsSync(file(rel))) missing(rel);
      try {
        // From the path, ORT reads external data files (location relative to the model) itself.
        return bytes ? await ortNode().InferenceSession.create(bytes, so) : await ortNode().InferenceSession.create(file(rel), so);
      } catch (e) {
        throw new DiffusionError(`${file(rel)}: ONNX Runtime could not load it: ${String((e as Error).message).split('\n')[0]}`);
      }
    },
    ...(precision === 'float32' ? {
      async float32Session(rel: string, bytes?: Uint8Array) {
        if (!bytes && !fs.existsSync(file(rel))) missing(rel);
        return float32Session(file(rel), bytes, so);
      },
    } : {}),
  };
}

/** Opens a diffusers ONNX pipeline folder (text encoder, UNet and VAE decoder sessions; the encoder on first img2img). */
export async function loadStableDiffusion(dir: string, options: LoadStableDiffusionOptions = {}): Promise<StableDiffusionPipeline> {
  if (typeof dir !== 'string') throw new DiffusionError('loadStableDiffusion: the folder must be a path');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new FileFormatError(dir, 'not a folder (expected a diffusers ONNX pipeline folder)');
  // pipeline(dir) passes loadModel's options on; those for one denoiser file do not apply here
  for (const k of ['config'] as const) {
    if ((options as Record<string, unknown>)[k] !== undefined) throw new OptionError(k, `does not apply to a Stable Diffusion folder (${dir})`);
  }
  const folder = nodeFolder(dir, options);
  // With an adapter (train --lora on captions: data), the UNet session runs the merged weights.
  const unet = options.lora !== undefined ? unetWithLora(dir, options.lora) : undefined;
  const access = unet ? withUnetBytes(folder, unet) : folder;
  const opened = options.openUnet === false ? withUnopenedUnet(access, readModelHeader(path.join(dir, 'unet', 'model.onnx')).model) : access;
  const sd = await openStableDiffusion(opened, ortNode() as unknown as SdOrt);
  const call = async (o: NodeStableDiffusionOptions): Promise<SdResult> => {
    if (typeof o?.image !== 'string') return sd.generate(o as StableDiffusionOptions);
    const f = sd.parts.vaeScaleFactor;
    const height = o.height ?? (sd.parts.sampleSize ?? 64) * f;
    const width = o.width ?? height;
    if (height !== width) throw new DiffusionError(`image: an image file is read square; height (${height}) and width (${width}) must be equal`);
    return sd.generate({ ...o, height, width, image: await readImage(o.image, { channels: 3, size: height }) });
  };
  return Object.assign(call, { sd, dir, dispose: () => sd.dispose(), release: () => sd.dispose() });
}
