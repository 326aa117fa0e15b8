/**
 * The self-description every model.onnx carries in metadata_props under key `onnx-diffusion`
 * (JSON). A sampler, in Node or in a browser, needs nothing else. Pure TypeScript, no Node imports.
 */
import { ConfigError, DiffusionError } from './errors';
import { checkDiffusionConfig, DiffusionConfig, DiffusionKind, KINDS } from './diffusion-config';
import { Checker, describe, isObj } from './schema';

export type { DiffusionKind } from './diffusion-config';

export const METADATA_KEY = 'onnx-diffusion';
export const FORMAT = 'onnx-diffusion/1';

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

/** Checks model metadata (lenient: keys it does not know are dropped); errors name `path.key`. */
export function validateModelConfig(obj: unknown, path: string): ModelConfig {
  const c = new Checker('', path);
  const o = c.object(obj, '');
  if (o.format !== undefined && o.format !== FORMAT) c.fail('format', `${describe(o.format)} is not a format this version reads (expected ${FORMAT})`);
  const kind = o.kind === undefined ? 'gaussian' : c.oneOf(o.kind, 'kind', KINDS);
  const img = c.object(o.image, 'image', undefined, '{channels, size}');
  const image = { channels: c.posInt(img.channels, 'image.channels'), size: c.posInt(img.size, 'image.size') };
  const cond = isObj(o.conditioning) ? o.conditioning : {};
  const conditioning: Conditioning = {};
  for (const k of ['classes', 'labels', 'condChannels', 'lowResSize'] as const) {
    if (cond[k] !== undefined) conditioning[k] = c.posInt(cond[k], `conditioning.${k}`);
  }
  if (cond.augment !== undefined) conditioning.augment = cond.augment === true;
  const config: ModelConfig = { format: FORMAT, kind, image, diffusion: checkDiffusionConfig(c.child('diffusion'), o.diffusion ?? {}), conditioning };
  if (Array.isArray(o.classNames)) config.classNames = o.classNames.map(String);
  if (o.recipe !== undefined) config.recipe = o.recipe;
  if (typeof o.parameters === 'number') config.parameters = o.parameters;
  if (isObj(o.training) && typeof o.training.step === 'number') config.training = o.training as ModelConfig['training'];
  if (isObj(o.cold)) {
    const cold = o.cold;
    const num = (k: keyof typeof DEFAULT_COLD) => (typeof cold[k] === 'number' ? cold[k] : DEFAULT_COLD[k]);
    config.cold = { blurStd: num('blurStd'), startMean: num('startMean'), startStd: num('startStd') };
  }
  if (Array.isArray(o.tRange) && o.tRange.length === 2) config.tRange = [Number(o.tRange[0]), Number(o.tRange[1])];
  return config;
}

/**
 * A config given beside a foreign model (e.g. test/fixtures/torch-unet-16px.json): needs
 * `image` and `diffusion`; other keys (about, inputs, output) are documentation and ignored.
 */
export function configFromJson(obj: unknown, source: string): ModelConfig {
  if (!isObj(obj)) throw new ConfigError(source, 'expected a JSON object');
  return validateModelConfig({ ...obj, kind: obj.kind ?? 'gaussian' }, source);
}
