/**
 * The one-call image pipeline over a loaded model, as diffusers and transformers.js users expect it:
 * `const gen = imagePipeline(model); const { images } = await gen({ n: 16, seed: 1, steps: 25 })`.
 * Each call is a fresh createSampler + sample, so every option may change between calls.
 */
import { OptionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import { rgbaToChw, type RgbaImage } from '../image/pixels';
import { checkClassCount, checkSamplerOptions } from './sampler-options';
import { createSampler, type CreateSamplerOptions, type SampleCallOptions, type SampleResult, type SamplerModel } from './sampler';

/** One pipeline call: createSampler's options, sample()'s callbacks, the count and the start image. */
export interface GenerateOptions extends Omit<CreateSamplerOptions, 'image'>, SampleCallOptions {
  /** Number of images (default 1). */
  n?: number;
  /**
   * Image-to-image (SDEdit, with `strength`): float CHW in [-1, 1] (one image for all, or n), or
   * RGBA images of the model's size (one, or n).
   */
  image?: Float32Array | RgbaImage | RgbaImage[];
}

/** A model bound for one-call sampling; `dispose()` frees the model's session. */
export interface ImagePipeline<M extends SamplerModel = SamplerModel> {
  (options?: GenerateOptions): Promise<SampleResult>;
  readonly model: M;
  /** Frees what the pipeline owns (the model's session, unless the model was passed in by its owner). */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

/** What frees a model: `dispose()`, else the deprecated `release()` of a model from an older build. */
export async function disposeModel(model: unknown): Promise<void> {
  const m = model as { dispose?: () => Promise<void>; release?: () => Promise<void> };
  await (m.dispose ? m.dispose() : m.release?.());
}

/** The start image(s) as the float CHW the sampler takes. */
function startImage(image: GenerateOptions['image'], model: SamplerModel): Float32Array | undefined {
  if (image === undefined || image instanceof Float32Array) return image;
  const { channels, size } = model.config.image;
  const list = Array.isArray(image) ? image : [image];
  if (channels !== 1 && channels !== 3) throw new OptionError('image', `as RGBA needs a 1- or 3-channel model, this one has ${channels}; pass float CHW`);
  const per = channels * size * size;
  const out = new Float32Array(list.length * per);
  list.forEach((img, i) => {
    if (img.width !== size || img.height !== size) throw new OptionError('image', `must be ${size}x${size} (the model's size), got ${img.width}x${img.height}`);
    out.set(rgbaToChw(img, channels), i * per);
  });
  return out;
}

/**
 * The call's options over the model's recommended sampling (config.sampling, from its metadata):
 * guidance when not given, and the sampler with its steps when neither is given (steps alone keep
 * the recommended sampler; another sampler keeps its own default steps).
 */
export function withRecommended(options: GenerateOptions, config: ModelConfig): GenerateOptions {
  const rec = config.sampling;
  if (!rec || config.kind !== 'gaussian') return options;
  const out = { ...options };
  if (out.sampler === undefined && rec.sampler !== undefined) {
    out.sampler = rec.sampler as GenerateOptions['sampler'];
    if (out.steps === undefined) out.steps = rec.steps;
  }
  if (out.guidance === undefined && rec.guidance !== undefined) out.guidance = rec.guidance;
  return out;
}

/** Binds `model` for one-call sampling; `dispose` is what frees it (default: the model's own dispose(), if any). */
export function imagePipeline<M extends SamplerModel>(model: M, dispose: () => Promise<void> = () => disposeModel(model)): ImagePipeline<M> {
  const gen = async (options: GenerateOptions = {}): Promise<SampleResult> => {
    checkSamplerOptions(model.config, options, 'a pipeline call');
    const { n = 1, image, onStep, signal, ...rest } = withRecommended(options, model.config);
    checkClassCount(options, n);
    return createSampler(model, { ...rest, image: startImage(image, model) }).sample(n, { onStep, signal });
  };
  return Object.assign(gen, { model, dispose, release: dispose });
}

/** @deprecated The old name of imagePipeline (kept for one version). */
export const generator = imagePipeline;
