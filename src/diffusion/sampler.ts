/**
 * The sampler API shared by Node, the browser and the trainer: given a model (anything that runs
 * the denoiser for a batch) and options, `sample(n)` returns images as NCHW floats and RGBA.
 * Isomorphic: no Node imports; the ONNX Runtime binding lives in the model object.
 */
import { DiffusionError, OptionError } from '../core/errors';
import { imageToRgba, RgbaImage } from '../image/pixels';
import { ModelConfig } from '../core/model-config';
import { guidedBy, StepInfo, TimestepSpacing, DdpmVariance, type SamplerName } from './samplers';
import { denoise } from './samplers/loop';
import { Denoiser } from './samplers/types';
import { modelScheduler } from './schedulers';
import { checkClassCount, checkSamplerOptions } from './sampler-options';

/** Per-image conditioning of one batch (the model inputs class, labels, cond, aug, and any other). */
export interface Extras {
  class?: Int32Array;
  labels?: Float32Array;
  cond?: Float32Array;
  aug?: Int32Array;
  /** Conditioning inputs of any name (config.conditioning.inputs), batch-major, n per-image blocks. */
  inputs?: Record<string, Float32Array>;
}

/** What createSampler needs of a model: its config and one batched network call. */
export interface SamplerModel {
  readonly config: ModelConfig;
  run(x: Float32Array, t: Int32Array, extras?: Extras): Promise<Float32Array>;
}

function cat<A extends Int32Array | Float32Array>(a: A | undefined, b: A | undefined): A | undefined {
  if (!a || !b) return undefined;
  const out = new (a.constructor as new (n: number) => A)(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Two batches' conditioning as one batch (conditional half first). */
function concatExtras(a: Extras, b: Extras): Extras {
  const e: Extras = { class: cat(a.class, b.class), labels: cat(a.labels, b.labels), cond: cat(a.cond, b.cond), aug: cat(a.aug, b.aug) };
  if (a.inputs && b.inputs) e.inputs = Object.fromEntries(Object.keys(a.inputs).map((k) => [k, cat(a.inputs![k], b.inputs![k])!]));
  return e;
}

export interface CreateSamplerOptions {
  /**
   * A name in the scheduler registry that applies to the model's kind (schedulers/index.ts).
   * Gaussian models: 'ddim' (default), 'ddpm', 'dpm++2m', 'dpm++2m-sde', 'euler', 'heun', or one
   * registered with registerScheduler; toy models: 'toy'; cold-blur models: 'cold'.
   */
  sampler?: SamplerName | (string & {});
  steps?: number;
  eta?: number;
  seed?: number;
  /** Classifier-free guidance scale w (1 = conditional only, 0 = unconditional). */
  guidance?: number;
  /** Class id for every image, or one per image (default: images cycle through the classes). */
  classes?: number | number[];
  /** Multi-hot labels, one vector for all images or n vectors. */
  labels?: number[];
  /** Condition image(s) CHW in [-1, 1] (one for all images or n of them). */
  cond?: Float32Array;
  /**
   * Conditioning inputs of any name (config.conditioning.inputs): for each, one image's values
   * (used for every image) or n images' values, batch-major. Int inputs are given as numbers too.
   * With `dims` (e.g. a .npy's shape), an input whose shape has free dims (a token count) is split
   * by them: [1, ...] or the per-image dims alone is one image's, [n, ...] is n images'.
   */
  inputs?: Record<string, ArrayLike<number> | ShapedValues>;
  /** Cascade noise-augmentation level (a timestep) of the condition image. */
  augLevel?: number;
  clipX0?: boolean;
  spacing?: TimestepSpacing;
  variance?: DdpmVariance;
  /** Images per network call (default: all n). */
  batch?: number;
  /**
   * The starting noise x_T, NCHW for all n images of a `sample(n)` call (default: drawn from the
   * seed). Gaussian and toy models (a cold-blur model starts from flat images).
   */
  latents?: Float32Array;
  /**
   * Image-to-image (SDEdit, Meng et al. 2022): start from `image` (CHW in [-1, 1], one for all
   * images or n of them) corrupted by the model's own forward process at `strength`, and denoise
   * from there. Gaussian: q(x_t | x_0) at t = round(strength T). Toy: the mix (1 - a) x0 + a z at
   * the first of the sampler's amounts at or below strength. Cold-blur: the blur D(x0, s) at level
   * s = round(strength T). Strength 0 returns the image, 1 is a plain sample, on every kind.
   */
  image?: Float32Array;
  /** In [0, 1], with `image` (default 0.8). */
  strength?: number;
}

/** Values with their dims (row-major). */
export interface ShapedValues {
  data: ArrayLike<number>;
  dims: readonly number[];
}

function isShaped(v: ArrayLike<number> | ShapedValues): v is ShapedValues {
  return (v as ShapedValues).dims !== undefined && (v as ShapedValues).data !== undefined;
}

export interface SampleResult {
  n: number;
  c: number;
  h: number;
  w: number;
  /** NCHW in [-1, 1]. */
  images: Float32Array;
  /** One RGBA image per sample (ImageData-ready). */
  rgba: RgbaImage[];
}

export interface SampleCallOptions {
  /** Called after every step with the batch's offset in the whole run. */
  onStep?: (info: StepInfo & { offset: number }) => void | Promise<void>;
  signal?: AbortSignal;
}

/** `src` (one image's values or n images') as n images' values; `option` (and the `inputs` key) name it when it is neither. */
function repeatTo(src: ArrayLike<number>, per: number, n: number, option: string, key?: string): Float32Array {
  if (src.length !== per && src.length !== per * n) {
    throw new OptionError(option, `${key ? `${key}: ` : ''}must have ${per} or ${per * n} values, got ${src.length}`);
  }
  const out = new Float32Array(per * n);
  for (let i = 0; i < n; i++) out.set(src.length === per ? src : Array.prototype.slice.call(src, i * per, (i + 1) * per), i * per);
  return out;
}

/** Values per image of a conditioning input given as `length` values for n images (or for one), or with its dims. */
function perImage(length: number, shape: readonly (number | string)[], n: number, name: string, dims?: readonly number[]): number {
  const fixed = shape.slice(1).every((d) => typeof d === 'number');
  if (fixed) return shape.slice(1).reduce<number>((p, d) => p * (d as number), 1);
  // dims of one image ([1, ...] or without the batch) or of a batch: the per-image dims follow the first
  if (dims !== undefined && dims.length === shape.length) return dims.slice(1).reduce((p, d) => p * d, 1);
  if (dims !== undefined && dims.length === shape.length - 1) return dims.reduce((p, d) => p * d, 1);
  if (length % n === 0) return length / n;
  throw new DiffusionError(`${name}: ${length} values do not split into ${n} images`);
}

export function createSampler(model: SamplerModel, options: CreateSamplerOptions = {}) {
  const config = model.config;
  checkSamplerOptions(config, options);
  const { channels: c, size } = config.image;
  const kind = config.kind;
  const cc = config.conditioning;
  if (options.classes !== undefined && cc.classes === undefined) throw new OptionError('classes', 'given but the model is not class-conditional');
  if (options.guidance !== undefined && cc.classes === undefined && cc.labels === undefined && !cc.inputs) {
    throw new OptionError('guidance', 'needs a conditional model (classes, labels or conditioning inputs)');
  }
  const condInputs = cc.inputs ?? [];
  for (const name of Object.keys(options.inputs ?? {})) {
    if (!condInputs.some((i) => i.name === name)) throw new OptionError('inputs', `${name}: not a conditioning input of this model (it has: ${condInputs.map((i) => i.name).join(', ') || 'none'})`);
  }
  if (kind === 'cold-blur' && options.latents) {
    throw new OptionError('latents', 'applies to gaussian and toy models; a cold-blur model starts from flat images (give `image` and `strength` to start from your own)');
  }
  if (options.strength !== undefined && !options.image) throw new OptionError('strength', 'needs an image to start from');
  // The scheduler checks its settings here, once: the name against the model's kind, each setting
  // against those it takes, their values, and the step count (setTimesteps).
  // A scheduler holds a run's state (step index, multistep history): each batch gets its own.
  const { steps, eta, spacing, variance, clipX0 } = options;
  const newScheduler = () => modelScheduler(config, options.sampler, { steps, eta, spacing, variance, clipX0 });
  const first = newScheduler();
  first.setTimesteps(steps ?? first.defaultSteps);

  async function sample(n: number, call: SampleCallOptions = {}): Promise<SampleResult> {
    if (!Number.isInteger(n) || n < 1) throw new OptionError('n', `(the number of images) must be a positive integer, got ${n}`);
    checkClassCount(options, n);
    const per = c * size * size;
    const images = new Float32Array(n * per);
    const batch = Math.max(1, Math.min(options.batch ?? n, n));
    if (options.latents && options.latents.length !== n * per) {
      throw new OptionError('latents', `must have ${n * per} values (${n} x ${c} x ${size} x ${size}), got ${options.latents.length}`);
    }
    const initImages = options.image && repeatTo(options.image, per, n, 'image');
    const strength = options.strength ?? 0.8;
    for (let offset = 0, chunk = 0; offset < n; offset += batch, chunk++) {
      const m = Math.min(batch, n - offset);
      const extras = extrasFor(offset, m);
      const seed = (options.seed ?? 0) + chunk;
      let denoiser: Denoiser = (x, t) => model.run(x, t, extras);
      if (options.guidance !== undefined && options.guidance !== 1) {
        denoiser = guidedBy((x, t, e: Extras) => model.run(x, t, e), extras, nullExtras(extras), concatExtras, options.guidance);
      }
      const onStep = call.onStep ? (info: StepInfo) => call.onStep!({ ...info, offset }) : undefined;
      const shape = { n: m, c, h: size, w: size };
      const initialNoise = options.latents?.slice(offset * per, (offset + m) * per);
      const init = initImages && { image: initImages.slice(offset * per, (offset + m) * per), strength };
      const out = await denoise(newScheduler(), denoiser, shape, { steps, seed, onStep, signal: call.signal, initialNoise, init });
      images.set(out, offset * per);
    }
    const rgba = Array.from({ length: n }, (_, i) => imageToRgba(images, i, c, size, size));
    return { n, c, h: size, w: size, images, rgba };
  }

  /** The unconditional counterpart for guidance: the null class, all-zero labels, each input's null value. */
  function nullExtras(e: Extras): Extras {
    const inputs = e.inputs && Object.fromEntries(condInputs.filter((i) => e.inputs![i.name]).map((i) => [i.name, e.inputs![i.name].map(() => i.nullValue ?? 0)]));
    return { ...e, class: e.class?.map(() => cc.classes!), labels: e.labels?.map(() => 0), inputs };
  }

  function extrasFor(offset: number, m: number): Extras {
    const extras: Extras = {};
    if (cc.classes !== undefined) {
      const k = options.classes;
      extras.class = Int32Array.from({ length: m }, (_, i) =>
        k === undefined ? (offset + i) % cc.classes! : typeof k === 'number' ? k : k[(offset + i) % k.length]);
    }
    if (cc.labels !== undefined) {
      const all = repeatTo(options.labels ?? new Array(cc.labels).fill(0), cc.labels, Math.max(offset + m, 1), 'labels');
      extras.labels = all.slice(offset * cc.labels, (offset + m) * cc.labels);
    }
    if (cc.condChannels !== undefined) {
      if (!options.cond) throw new OptionError('cond', 'missing: the model needs a condition image');
      const perCond = cc.condChannels * size * size;
      const all = repeatTo(options.cond, perCond, offset + m, 'cond');
      extras.cond = all.slice(offset * perCond, (offset + m) * perCond);
    }
    if (cc.augment) extras.aug = new Int32Array(m).fill(options.augLevel ?? 0);
    for (const i of condInputs) {
      const raw = options.inputs?.[i.name];
      // A missing input is left out: the model's feed check names it and says how to give it.
      if (raw === undefined) continue;
      const given = isShaped(raw) ? raw.data : raw;
      const per = perImage(given.length, i.shape, offset + m, i.name, isShaped(raw) ? raw.dims : undefined);
      if (given.length !== per && (given.length % per !== 0 || given.length < per * (offset + m))) {
        throw new DiffusionError(`${i.name}: expected [${i.shape.slice(1).join(',')}] per image (${per} values, for all images or one block per image), got ${given.length} values`);
      }
      extras.inputs ??= {};
      extras.inputs[i.name] = given.length === per
        ? repeatTo(given, per, m, 'inputs', i.name)
        : Float32Array.from(Array.prototype.slice.call(given, offset * per, (offset + m) * per));
    }
    return extras;
  }

  return { sample, config };
}

export type Sampler = ReturnType<typeof createSampler>;
