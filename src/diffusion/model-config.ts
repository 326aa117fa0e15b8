/**
 * The self-description every model.onnx carries in metadata_props under key `onnx-diffusion`
 * (JSON). A sampler, in Node or in a browser, needs nothing else. Pure TypeScript, no Node imports.
 */
import { ConfigError, DiffusionError } from '../errors';
import { DiffusionConfig, validateDiffusionConfig } from './config';

export const METADATA_KEY = 'onnx-diffusion';
export const FORMAT = 'onnx-diffusion/1';

/** gaussian: DDPM-style noise; toy: x = (1-a) x0 + a noise, x0-predicting; cold-blur: Bansal et al. 2022. */
export type DiffusionKind = 'gaussian' | 'toy' | 'cold-blur';

export interface Conditioning {
  /** Number of real classes; the model's `class` input also accepts `classes` (the null class). */
  classes?: number;
  /** Width of a multi-hot label vector fed as float input `labels` [N, L] (zeros = null). */
  labels?: number;
  /** Channels of an image condition fed as input `cond` [N, C, H, W] (channel concat). */
  condChannels?: number;
  /** Super-resolution: size of the low-resolution image (cond is it upsampled to image.size). */
  lowResSize?: number;
  /** Cascaded diffusion noise-conditioning augmentation: int64 input `aug` [N], a timestep. */
  augment?: boolean;
}

/** Cold blur defaults: elementary blur std (px) and the start distribution of flat channel means. */
export const DEFAULT_COLD = { blurStd: 0.1, startMean: 0, startStd: 0.5 } as const;

export interface ModelConfig {
  format: typeof FORMAT;
  kind: DiffusionKind;
  image: { channels: number; size: number };
  diffusion: DiffusionConfig;
  conditioning: Conditioning;
  /** Class names (index = class id), when the data named them. */
  classNames?: string[];
  /** The recipe the model was built from (free-form JSON, validated by src/nn/recipe.ts). */
  recipe?: unknown;
  /** Number of trainable float parameters. */
  parameters?: number;
  /** Set by the trainer: optimisation steps taken, data set, time. */
  training?: { step: number; data?: string; updated?: string };
  /** Cold (blur) diffusion: elementary blur std in pixels and the start distribution of channel means. */
  cold?: { blurStd: number; startMean: number; startStd: number };
  /** Timestep range this model was trained on (ensemble experts), inclusive. */
  tRange?: [number, number];
}

/** Reads the config from a model's metadata; undefined when the file carries none. */
export function readModelConfig(metadata: Record<string, string>, source: string): ModelConfig | undefined {
  const raw = metadata[METADATA_KEY];
  if (raw === undefined) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new DiffusionError(`${source}: metadata '${METADATA_KEY}' is not valid JSON`);
  }
  return validateModelConfig(obj, `${source}: metadata`);
}

export function writeModelConfig(metadata: Record<string, string>, config: ModelConfig): void {
  metadata[METADATA_KEY] = JSON.stringify(config);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function posInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError(path, `expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

export function validateModelConfig(obj: unknown, path: string): ModelConfig {
  if (!isObj(obj)) throw new ConfigError(path, 'expected an object');
  if (obj.format !== undefined && obj.format !== FORMAT) throw new ConfigError(`${path}.format`, `${JSON.stringify(obj.format)} is not a format this version reads (expected ${FORMAT})`);
  const kind = (obj.kind ?? 'gaussian') as DiffusionKind;
  if (!['gaussian', 'toy', 'cold-blur'].includes(kind)) throw new ConfigError(`${path}.kind`, `expected gaussian|toy|cold-blur, got ${JSON.stringify(obj.kind)}`);
  if (!isObj(obj.image)) throw new ConfigError(`${path}.image`, 'expected {channels, size}');
  const image = { channels: posInt(obj.image.channels, `${path}.image.channels`), size: posInt(obj.image.size, `${path}.image.size`) };
  const cond = isObj(obj.conditioning) ? obj.conditioning : {};
  const conditioning: Conditioning = {};
  if (cond.classes !== undefined) conditioning.classes = posInt(cond.classes, `${path}.conditioning.classes`);
  if (cond.labels !== undefined) conditioning.labels = posInt(cond.labels, `${path}.conditioning.labels`);
  if (cond.condChannels !== undefined) conditioning.condChannels = posInt(cond.condChannels, `${path}.conditioning.condChannels`);
  if (cond.lowResSize !== undefined) conditioning.lowResSize = posInt(cond.lowResSize, `${path}.conditioning.lowResSize`);
  if (cond.augment !== undefined) conditioning.augment = cond.augment === true;
  const config: ModelConfig = {
    format: FORMAT,
    kind,
    image,
    diffusion: validateDiffusionConfig(obj.diffusion ?? {}, `${path}.diffusion`),
    conditioning,
  };
  if (Array.isArray(obj.classNames)) config.classNames = obj.classNames.map(String);
  if (obj.recipe !== undefined) config.recipe = obj.recipe;
  if (typeof obj.parameters === 'number') config.parameters = obj.parameters;
  if (isObj(obj.training) && typeof obj.training.step === 'number') config.training = obj.training as ModelConfig['training'];
  if (isObj(obj.cold)) {
    const num = (k: keyof typeof DEFAULT_COLD) => (typeof (obj.cold as Record<string, unknown>)[k] === 'number' ? ((obj.cold as Record<string, number>)[k]) : DEFAULT_COLD[k]);
    config.cold = { blurStd: num('blurStd'), startMean: num('startMean'), startStd: num('startStd') };
  }
  if (Array.isArray(obj.tRange) && obj.tRange.length === 2) config.tRange = [Number(obj.tRange[0]), Number(obj.tRange[1])];
  return config;
}

/**
 * A config given beside a foreign model (e.g. ../shared/fixtures/torch-unet-16px.json): needs
 * `image` and `diffusion`; other keys (about, inputs, output) are documentation and ignored.
 */
export function configFromJson(obj: unknown, source: string): ModelConfig {
  if (!isObj(obj)) throw new ConfigError(source, 'expected a JSON object');
  return validateModelConfig({ ...obj, kind: obj.kind ?? 'gaussian' }, source);
}
