/**
 * `pipeline(nameOrPathOrModel)` in Node: loadModel (a path, a shipped model name, a URL or bytes)
 * bound for one-call sampling; a start image may also be an image file, read at the model's size.
 */
import { DiffusionError } from '../core/errors';
import { generator, type GenerateOptions } from '../diffusion/generate';
import type { SampleResult } from '../diffusion/sampler';
import { readImage } from '../image/read';
import { loadModel, type LoadModelOptions, type NodeModelSource } from './load';
import { DiffusionModel } from './model';
import { isStableDiffusionFolder, loadStableDiffusion } from './sd';

/** Node's pipeline call: `image` may also be the path of an image file (resized to the model). */
export interface NodeGenerateOptions extends Omit<GenerateOptions, 'image'> {
  image?: GenerateOptions['image'] | string;
}

/** A loaded model bound for one-call sampling. */
export interface NodeGenerator {
  (options?: NodeGenerateOptions): Promise<SampleResult>;
  readonly model: DiffusionModel;
  /** Frees the session pipeline() loaded (a model passed in is left to its owner). */
  release(): Promise<void>;
}

/**
 * Loads a model (unless given one) and returns `gen(options)`, which samples `n` images per call.
 * `gen.release()` frees the session (a model passed in is left to its owner).
 */
export async function pipeline(model: NodeModelSource | DiffusionModel, options: LoadModelOptions = {}): Promise<NodeGenerator> {
  // A diffusers folder with text_encoder/ is a text-to-image pipeline: its call takes { prompt, ... }
  // (typed as StableDiffusionPipeline; TypeScript callers may use loadStableDiffusion for the types).
  if (typeof model === 'string' && isStableDiffusionFolder(model)) return loadStableDiffusion(model, options) as unknown as NodeGenerator;
  // A source is a path, URL or bytes; anything else is a loaded model, also one that the other
  // build (require vs import) loaded, which `instanceof DiffusionModel` would not recognise.
  const owned = typeof model === 'string' || model instanceof URL || model instanceof Uint8Array || model instanceof ArrayBuffer;
  const m = owned ? await loadModel(model, options) : model;
  const gen = generator(m, owned ? () => m.release() : async () => {});
  const { channels, size } = m.config.image;
  const call = async (o: NodeGenerateOptions = {}) => {
    if (typeof o.image !== 'string') return gen(o as GenerateOptions);
    if (channels !== 1 && channels !== 3) throw new DiffusionError(`image: an image file needs a 1- or 3-channel model, this one has ${channels}`);
    return gen({ ...o, image: await readImage(o.image, { channels, size }) });
  };
  return Object.assign(call, { model: m, release: gen.release });
}
