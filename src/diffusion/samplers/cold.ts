/**
 * Cold diffusion (Bansal et al. 2022) with the Gaussian-blur degradation of
 * `../degradations/blur.ts`. Levels are t in [0, T]: D(x0, 0) = x0, D(x0, T) the most blurred.
 * The network R(x_t, t) predicts x0 and receives t in [1, T] (it is never asked at t = 0).
 * Training pairs are (coldDegrade(x0, t, cfg), t) -> x0, built on the host.
 *
 * Sampling is deterministic (no Rng): it starts from a given x_T (e.g. a fully blurred image)
 * and uses the paper's improved sampler, Algorithm 2, by default; Algorithm 1 ('naive') is
 * x_{s-1} = D(x0_hat, s - 1). With a perfect x0 predictor both return x0 exactly.
 *
 * SDEdit (`init`) in cold terms: start at level s = round(strength T) from D(image, s), the image
 * degraded as far as training degraded it, and restore levels s..1. Strength 0 is the image (no
 * network call). Strength 1 starts from x_T, as a plain sample does: D(image, T) would still carry
 * the image's channel means, which the plain sample draws instead.
 */
import { DiffusionKind } from '../../core/diffusion-config';
import { DiffusionError, OptionError } from '../../core/errors';
import { DEFAULT_COLD, type ModelConfig } from '../../core/model-config';
import type { Rng } from '../../core/rng';
import { BlurConfig, ImageShape, blurDegrade } from '../degradations/blur';
import type { SchedulerSettings, StartOptions } from '../schedulers/types';
import { clipX0, denoise } from './loop';
import { checkInit } from './common';
import { clipOf, IndexedScheduler } from './scheduler';
import { Denoiser, ImageInit, SampleShape, StepInfo } from './types';

export interface ColdConfig extends BlurConfig {
  /** Image channels, height and width; the batch size follows from the array length. */
  c: number;
  h: number;
  w: number;
}

export interface ColdOptions {
  /** 'improved' (Algorithm 2, default) or 'naive' (Algorithm 1). */
  algorithm?: 'improved' | 'naive';
  /** Clamp x0_hat to [-1, 1] (default true). */
  clipX0?: boolean;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  /** Image-to-image: restore `image` from level round(strength T) instead of x_T. */
  init?: ImageInit;
}

function imageShape(len: number, cfg: ColdConfig): ImageShape {
  const per = cfg.c * cfg.h * cfg.w;
  if (!(per > 0) || len % per !== 0) {
    throw new DiffusionError(`cold: ${len} values are not a batch of ${cfg.c}x${cfg.h}x${cfg.w} images`);
  }
  return { n: len / per, c: cfg.c, h: cfg.h, w: cfg.w };
}

/** D(x0, t) for a batch: one level for all samples or one per sample (training batches). */
export function coldDegrade(x0: Float32Array, t: number | ArrayLike<number>, cfg: ColdConfig): Float32Array {
  return blurDegrade(x0, imageShape(x0.length, cfg), t, cfg);
}

/** Step from level s to s - 1, pure, given the x0 estimate at s. */
export function coldStep(x: Float32Array, x0: Float32Array, s: number, cfg: ColdConfig, algorithm: 'improved' | 'naive' = 'improved'): Float32Array {
  const shape = imageShape(x.length, cfg);
  const dPrev = blurDegrade(x0, shape, s - 1, cfg);
  // Bansal et al. Algorithm 1: x_{s-1} = D(x0_hat, s-1)
  if (algorithm === 'naive') return dPrev;
  // Bansal et al. Algorithm 2: x_{s-1} = x_s - D(x0_hat, s) + D(x0_hat, s-1)
  const dS = blurDegrade(x0, shape, s, cfg);
  const next = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) next[i] = x[i] - dS[i] + dPrev[i];
  return next;
}

/**
 * Cold diffusion as a scheduler of cold-blur models: levels T, T-1, ..., 1, all of them (no
 * `steps`). The plain start is flat images: the fully blurred limit is each channel's mean, drawn
 * from a one-component Gaussian fit of the data's channel means (Bansal et al. use a GMM).
 * Deterministic after that.
 */
export class ColdScheduler extends IndexedScheduler {
  readonly name = 'cold';
  readonly kinds: readonly DiffusionKind[] = ['cold-blur'];
  readonly trainTimesteps: number;
  readonly initNoiseSigma: number;

  constructor(readonly cfg: ColdConfig, private readonly start0: { mean: number; std: number } = { mean: 0, std: 0 },
    private readonly clip = true, readonly algorithm: 'improved' | 'naive' = 'improved') {
    super();
    const T = cfg.timesteps;
    if (!Number.isInteger(T) || T < 1) throw new DiffusionError(`cold: timesteps must be a positive integer, got ${T}`);
    this.trainTimesteps = T;
    this.initNoiseSigma = start0.std;
  }

  get defaultSteps(): number {
    return this.trainTimesteps;
  }

  /** From a cold-blur model's config (its `cold` section) and createSampler's settings. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): ColdScheduler {
    const cold = config.cold ?? DEFAULT_COLD;
    const { channels: c, size } = config.image;
    const cfg = { timesteps: config.diffusion.timesteps, blurStd: cold.blurStd, c, h: size, w: size };
    return new ColdScheduler(cfg, { mean: cold.startMean, std: cold.startStd }, clipOf(settings.clipX0) ?? true);
  }

  protected grid(steps: number): number[] {
    const T = this.trainTimesteps;
    if (steps !== T) throw new OptionError('steps', `must be ${T} for cold (it restores all ${T} levels), got ${steps}`);
    return Array.from({ length: T }, (_, i) => T - i);
  }

  /** D(x0, t): the degradation has no noise (`noise` is not read). */
  addNoise(x0: Float32Array, _noise: Float32Array, t: number): Float32Array {
    return coldDegrade(x0, t, this.cfg);
  }

  /** Flat images (or the given x_T); with `init`, the image degraded to level round(strength T). */
  start(rng: Rng, shape: SampleShape, from: StartOptions = {}): { x: Float32Array; begin: number } {
    const per = this.cfg.h * this.cfg.w;
    let x: Float32Array = from.initialNoise === undefined ? new Float32Array(shape.n * shape.c * per) : Float32Array.from(from.initialNoise);
    if (from.initialNoise === undefined) {
      for (let i = 0; i < shape.n * shape.c; i++) x.fill(this.start0.mean + this.start0.std * rng.normal(), i * per, (i + 1) * per);
    }
    imageShape(x.length, this.cfg);
    const T = this.trainTimesteps;
    let level = T;
    if (from.init) {
      checkInit(from.init, x.length);
      level = Math.round(from.init.strength * T);
      if (level === 0) x = Float32Array.from(from.init.image);
      else if (level < T) x = this.addNoise(from.init.image, x, level);
    }
    return { x, begin: this.begin(T - level) };
  }

  protected stepAt(i: number, modelOutput: Float32Array, x: Float32Array) {
    const x0 = clipX0(modelOutput, this.clip);
    return { x: coldStep(x, x0, this.timesteps[i], this.cfg, this.algorithm), x0 };
  }
}

/** Restores x_T to x_0 in T steps (Bansal et al. Algorithm 2 by default), or `init.image` from its level. */
export async function coldSample(denoiser: Denoiser, xT: Float32Array, cfg: ColdConfig, opts: ColdOptions = {}): Promise<Float32Array> {
  const shape = imageShape(xT.length, cfg);
  const scheduler = new ColdScheduler(cfg, undefined, opts.clipX0 !== false, opts.algorithm);
  return denoise(scheduler, denoiser, shape, { ...opts, initialNoise: xT });
}
