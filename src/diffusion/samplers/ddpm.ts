/**
 * DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) with x0 clipping: each step predicts
 * x0, clips it, and samples x_{t-1} ~ N(mu-tilde_t(x_t, x0), sigma_t^2 I) from the posterior of
 * eq. 6-7. By default it visits all T timesteps; with steps < T it skips between the visited ones
 * using the posterior between any two timesteps (as diffusers' DDPMScheduler does).
 *
 * Noise order: x_T (unless initialNoise is given), then one normal array per step that adds
 * noise, i.e. every step but the last (whose target is t = -1, the clean image).
 */
import { Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import { clampUnit, predToX0 } from '../objectives';
import { NoiseSchedule } from '../schedules';
import { noiseFrom } from '../schedulers/ddim';
import type { NoiseSource, SchedulerSettings } from '../schedulers/types';
import { denoise } from './loop';
import { spacingOf, varianceOf, VpScheduler, vpSetup } from './scheduler';
import { makeTimesteps } from './timesteps';
import { DdpmOptions, DdpmVariance, Denoiser, SampleShape, TimestepSpacing } from './types';

export interface PosteriorCoefs {
  /** Coefficient of x0 in mu-tilde. */
  coef1: number;
  /** Coefficient of x_t in mu-tilde. */
  coef2: number;
  /** sigma^2 of the chosen variance. */
  variance: number;
}

/**
 * q(x_prev | x_t, x0) for prev < t (prev = -1 means abar_prev = 1). With prev = t - 1 this is
 * Ho et al. eq. 7 read from the schedule's tables; otherwise the same formula with
 * beta = 1 - abar_t / abar_prev, the effective beta of the skipped interval.
 */
export function ddpmPosterior(schedule: NoiseSchedule, t: number, prev: number, variance: DdpmVariance): PosteriorCoefs {
  const ab = schedule.alphasCumprod[t];
  const abPrev = prev >= 0 ? schedule.alphasCumprod[prev] : 1;
  const beta = prev === t - 1 ? schedule.betas[t] : 1 - ab / abPrev;
  // Ho et al. eq. 7: mu-tilde = sqrt(abar_prev) beta / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_prev) / (1 - abar_t) x_t
  const coef1 = (Math.sqrt(abPrev) * beta) / (1 - ab);
  const coef2 = (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab);
  // Ho et al. section 3.2: sigma^2 = beta_t or beta-tilde_t = (1 - abar_prev) / (1 - abar_t) beta_t
  const sigma2 = variance === 'beta' ? beta : ((1 - abPrev) / (1 - ab)) * beta;
  return { coef1, coef2, variance: sigma2 };
}

export interface DdpmStepArgs {
  schedule: NoiseSchedule;
  prediction: Prediction;
  /** x_t, n samples flattened. */
  x: Float32Array;
  /** The raw network output at (x, t). */
  modelOutput: Float32Array;
  t: number;
  /** The timestep to step to (default t - 1; -1 is the clean image). */
  prev?: number;
  /** z ~ N(0, I) of x's length, or null for none (the last step never adds noise). */
  noise: Float32Array | null;
  variance?: DdpmVariance;
  clipX0?: boolean;
}

export interface DdpmStepResult {
  /** x_prev = mu-tilde + sigma z. */
  prev: Float32Array;
  /** The posterior mean mu-tilde. */
  mean: Float32Array;
  /** The (clipped) x0 estimate. */
  x0: Float32Array;
  /** sigma^2. */
  variance: number;
}

/** One ancestral step x_t -> x_prev, from a raw model output. */
export function ddpmStep(a: DdpmStepArgs): DdpmStepResult {
  const prev = a.prev ?? a.t - 1;
  // One abar for the whole batch: every sample is at the same t.
  const abar = [a.schedule.alphasCumprod[a.t]];
  let x0 = predToX0(a.modelOutput, a.prediction, a.x, abar);
  if (a.clipX0 !== false) x0 = clampUnit(x0);
  return ddpmStepFromX0(a.schedule, a.x, x0, a.t, prev, a.noise, a.variance ?? 'posterior');
}

function ddpmStepFromX0(
  schedule: NoiseSchedule, x: Float32Array, x0: Float32Array, t: number, prev: number,
  noise: Float32Array | null, variance: DdpmVariance,
): DdpmStepResult {
  const { coef1, coef2, variance: sigma2 } = ddpmPosterior(schedule, t, prev, variance);
  const sigma = prev >= 0 && noise !== null ? Math.sqrt(sigma2) : 0;
  const mean = new Float32Array(x.length);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const mu = coef1 * x0[i] + coef2 * x[i]; // Ho et al. eq. 7
    mean[i] = mu;
    out[i] = noise === null || sigma === 0 ? mu : mu + sigma * noise[i]; // Ho et al. Algorithm 2, line 4
  }
  return { prev: out, mean, x0, variance: sigma2 };
}

/**
 * DDPM as a scheduler of the project's gaussian models: by default all T timesteps; with fewer
 * steps, the posterior between the visited ones. Draws one normal array per step but the last.
 */
export class DdpmScheduler extends VpScheduler {
  readonly name = 'ddpm';
  readonly variance: DdpmVariance;

  constructor(schedule: NoiseSchedule, prediction: Prediction, o: DdpmSchedulerOptions = {}) {
    super(schedule, prediction, spacingOf(o.spacing) ?? 'leading', o.clip ?? true, o.stepsOffset);
    this.variance = varianceOf(o.variance) ?? 'posterior';
  }

  get defaultSteps(): number {
    return this.trainTimesteps;
  }

  /** From a gaussian model's config (its diffusers keys give defaults) and createSampler's settings. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): DdpmScheduler {
    const v = vpSetup(config, settings);
    return new DdpmScheduler(v.schedule, v.prediction, { ...v, variance: settings.variance });
  }

  protected spaced(steps: number): Int32Array {
    return makeTimesteps(this.trainTimesteps, steps, this.spacing, this.stepsOffset);
  }

  protected stepAt(i: number, modelOutput: Float32Array, x: Float32Array, noise: NoiseSource | undefined) {
    const prev = this.prevOf(i);
    const z = prev >= 0 ? noiseFrom(noise, x.length) : null;
    const r = ddpmStep({
      schedule: this.schedule, prediction: this.prediction, x, modelOutput, t: this.ts[i], prev, noise: z, variance: this.variance, clipX0: this.clip,
    });
    return { x: r.prev, x0: r.x0 };
  }
}

export interface DdpmSchedulerOptions {
  variance?: DdpmVariance;
  /** Default 'leading'. */
  spacing?: TimestepSpacing;
  /** Clamp x0 to [-1, 1] (default true). */
  clip?: boolean;
  stepsOffset?: number;
}

/** DDPM from x_T ~ N(0, I) to a sample (the scheduler run by the one loop); returns x_0. */
export async function ddpmSample(
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape, opts: DdpmOptions = {},
): Promise<Float32Array> {
  const scheduler = new DdpmScheduler(schedule, prediction, { ...opts, clip: opts.clipX0 !== false });
  return denoise(scheduler, denoiser, shape, opts);
}
