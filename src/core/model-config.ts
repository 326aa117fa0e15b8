/**
 * The self-description every model.onnx carries in metadata_props under key `onnx-diffusion`
 * (JSON). A sampler, in Node or in a browser, needs nothing else. Pure TypeScript, no Node imports.
 */
import { ConfigError, DiffusionError } from './errors';
import { checkDiffusionConfig, DiffusionConfig, DiffusionKind, KINDS } from './diffusion-config';
import { Checker, describe, isObj } from './schema';
import { checkCondInputs, CondInput } from './cond-inputs';

export type { DiffusionKind } from './diffusion-config';
export type { CondInput, CondKind } from './cond-inputs';

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
  /** Inputs of any other name (a foreign model's `encoder_hidden_states`, `context`, ...). */
  inputs?: CondInput[];
}

/**
 * Which graph input is the noisy sample, which the timestep, and which output the prediction, for
 * a model whose names are neither ours (x, t, out) nor diffusers' (sample, timestep, out_sample).
 */
export interface Roles {
  sample?: string;
  timestep?: string;
  prediction?: string;
}

/** The names each role goes by, this project's first, then diffusers' and optimum's. */
export const ROLE_NAMES: Readonly<Record<keyof Roles, readonly string[]>> = {
  sample: ['x', 'sample'],
  timestep: ['t', 'timestep', 'timesteps'],
  prediction: ['out', 'out_sample'],
};

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
  /** The sampler, steps and guidance the model's card recommends; pipeline() and `sample` use them unless told otherwise. */
  sampling?: { sampler?: string; steps?: number; guidance?: number };
  /** Cold (blur) diffusion: elementary blur std in pixels and the start distribution of channel means. */
  cold?: { blurStd: number; startMean: number; startStd: number };
  /** Timestep range this model was trained on (ensemble experts), inclusive. */
  tRange?: [number, number];
  /** Set when the graph forms W + (alpha/r) B A in-graph from LoRA adapters (nn/lora.ts). */
  lora?: LoraSpec;
  /** Graph I/O names of the sample, timestep and prediction, when not found by name (diffusion/config-inputs.ts). */
  roles?: Roles;
}

/** Where one adapter sits: the frozen weight, its key (adapter names), and W's layout. */
export interface LoraTarget {
  weight: string;
  key: string;
  /** 'out-in': W [out, in] (Gemm transB); 'in-out': W [in, out] (MatMul); 'conv': W [O, I, kh, kw]. */
  layout: 'out-in' | 'in-out' | 'conv';
}

export interface LoraSpec {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
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
  const roles = o.roles === undefined ? undefined : checkRoles(c, o.roles);
  // the informal `inputs` map of a foreign model's config lists the sample and timestep too: those are roles, not conditioning
  const roleInputs = [...ROLE_NAMES.sample, ...ROLE_NAMES.timestep, ...(roles?.sample ? [roles.sample] : []), ...(roles?.timestep ? [roles.timestep] : [])];
  const inputs = checkCondInputs(c, cond, o.inputs, roleInputs);
  if (inputs) conditioning.inputs = inputs;
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
  if (isObj(o.lora)) config.lora = checkLoraSpec(c.child('lora'), o.lora);
  if (isObj(o.sampling)) {
    const r = o.sampling;
    config.sampling = {};
    if (r.sampler !== undefined) config.sampling.sampler = String(r.sampler);
    if (r.steps !== undefined) config.sampling.steps = c.posInt(r.steps, 'sampling.steps');
    if (typeof r.guidance === 'number' && r.guidance >= 0) config.sampling.guidance = r.guidance;
  }
  if (Array.isArray(o.tRange) && o.tRange.length === 2) config.tRange = [Number(o.tRange[0]), Number(o.tRange[1])];
  if (roles) config.roles = roles;
  return config;
}

function checkRoles(c: Checker, v: unknown): Roles {
  const r = c.object(v, 'roles', ['sample', 'timestep', 'prediction'], '{sample, timestep, prediction}');
  const roles: Roles = {};
  for (const k of ['sample', 'timestep', 'prediction'] as const) if (r[k] !== undefined) roles[k] = c.string(r[k], `roles.${k}`, 'a graph input or output name');
  return roles;
}

/**
 * A config given beside a foreign model (e.g. test/fixtures/torch-unet-16px.json): needs
 * `image` and `diffusion`; `inputs` entries other than x and t describe conditioning inputs
 * (`"float32 [N,4,16], context tokens"`, see cond-inputs.ts); other keys are documentation.
 */
export function configFromJson(obj: unknown, source: string): ModelConfig {
  if (!isObj(obj)) throw new ConfigError(source, 'expected a JSON object');
  return validateModelConfig({ ...obj, kind: obj.kind ?? 'gaussian' }, source);
}

const LAYOUTS: readonly LoraTarget['layout'][] = ['out-in', 'in-out', 'conv'];

/** The `lora` section of metadata or of an adapter file's header. */
export function checkLoraSpec(c: Checker, v: unknown): LoraSpec {
  const o = c.object(v, '', ['rank', 'alpha', 'targets', 'format']);
  const targets = c.array(o.targets, 'targets', 'a list of adapted weights').map((t, i) => {
    const k = `targets[${i}]`;
    const e = c.object(t, k, ['weight', 'key', 'layout']);
    return { weight: c.string(e.weight, `${k}.weight`, 'a weight name'), key: c.string(e.key, `${k}.key`, 'an adapter key'), layout: c.oneOf(e.layout, `${k}.layout`, LAYOUTS) };
  });
  return { rank: c.posInt(o.rank, 'rank'), alpha: c.finite(o.alpha, 'alpha'), targets };
}
