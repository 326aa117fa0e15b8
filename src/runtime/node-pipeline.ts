/**
 * `pipeline(nameOrPathOrModel)` in Node: loadModel (a path, a shipped model name, a URL, downloaded
 * once into the cache by runtime/sources.ts, or bytes) bound for one-call sampling; a start image may also be an image file, read at the model's size.
 */
import { DiffusionError, OptionError } from '../core/errors';
import type { Precision } from '../diffusion/sd/load';
import { disposeModel, imagePipeline, type GenerateOptions } from '../diffusion/image-pipeline';
import type { SampleResult } from '../diffusion/sampler';
import { readImage } from '../image/read';
import { loadModel, type LoadModelOptions, type NodeModelSource } from './load';
import { DiffusionModel } from './model';
import { checkOptions, type OptionRule } from '../core/option-check';
import { isRemote, resolveRemote, type SourceOptions } from './sources';

/** pipeline()'s options in Node: loadModel's, and for a URL the download's progress and cache. */
export interface NodePipelineOptions extends LoadModelOptions, SourceOptions {
  /** float16 models and a Stable Diffusion folder's float16 parts: 'auto' (default), 'float32' or 'float16'. */
  precision?: Precision;
}

/** A rule for every option (a new option of loadModel does not compile until it has one here). */
const PIPELINE_OPTIONS: Readonly<Record<keyof NodePipelineOptions, OptionRule>> = {
  config: { kind: 'any' },
  device: { kind: 'string', oneOf: ['cpu', 'cuda'] },
  deviceId: { kind: 'integer', min: 0 },
  threads: { kind: 'integer', min: 1 },
  lora: { kind: 'any' },
  progress: { kind: 'function' },
  cache: { kind: 'any' },
  precision: { kind: 'string', oneOf: ['auto', 'float32', 'float16'] },
};
import { isStableDiffusionFolder, loadStableDiffusion } from './sd';

/** Node's pipeline call: `image` may also be the path of an image file (resized to the model). */
export interface NodeGenerateOptions extends Omit<GenerateOptions, 'image'> {
  image?: GenerateOptions['image'] | string;
}

/** A loaded model bound for one-call sampling (Node: `image` may be an image file). */
export interface NodeImagePipeline {
  (options?: NodeGenerateOptions): Promise<SampleResult>;
  readonly model: DiffusionModel;
  /** Frees the session pipeline() loaded (a model passed in is left to its owner). */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

/**
 * Loads a model (unless given one) and returns `gen(options)`, which samples `n` images per call.
 * `gen.dispose()` frees the session (a model passed in is left to its owner).
 */
export async function pipeline(model: NodeModelSource | DiffusionModel, options: NodePipelineOptions = {}): Promise<NodeImagePipeline> {
  checkOptions(options, PIPELINE_OPTIONS, 'pipeline()');
  const { progress, cache, ...load } = options;
  const source = isRemote(model) ? await resolveRemote(model, { progress, cache }) : model;
  // A diffusers folder with text_encoder/ is a text-to-image pipeline: its call takes { prompt, ... }
  // (typed as StableDiffusionPipeline; TypeScript callers may use loadStableDiffusion for the types).
  if (typeof source === 'string' && isStableDiffusionFolder(source)) return loadStableDiffusion(source, load) as unknown as NodeImagePipeline;
  // A source is a path, URL or bytes; anything else is a loaded model, also one that the other
  // build (require vs import) loaded, which `instanceof DiffusionModel` would not recognise.
  const owned = typeof source === 'string' || source instanceof URL || source instanceof Uint8Array || source instanceof ArrayBuffer;
  if (!owned && load.precision !== undefined) {
    throw new OptionError('precision', 'applies when pipeline() loads the model; pass it to loadModel for a model loaded already');
  }
  const m = owned ? await loadModel(source, load) : source;
  const gen = imagePipeline(m, owned ? () => disposeModel(m) : async () => {});
  const { channels, size } = m.config.image;
  const call = async (o: NodeGenerateOptions = {}) => {
    if (typeof o.image !== 'string') return gen(o as GenerateOptions);
    if (channels !== 1 && channels !== 3) throw new DiffusionError(`image: an image file needs a 1- or 3-channel model, this one has ${channels}`);
    return gen({ ...o, image: await readImage(o.image, { channels, size }) });
  };
  return Object.assign(call, { model: m, dispose: gen.dispose, release: gen.dispose });
}
