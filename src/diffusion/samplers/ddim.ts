/**
 * DDIM (Song, Meng & Ermon 2021): the non-Markovian reverse process of eq. 12 with sigma from
 * eq. 16; eta = 0 is the deterministic sampler, eta = 1 matches DDPM's variance.
 * The step after the last visited timestep targets abar = 1 (diffusers' set_alpha_to_one), and
 * the previous timestep is the next one in the visited list (equal to diffusers' t - T/steps for
 * 'leading' spacing, and correct for 'trailing' and 'linspace' too).
 *
 * Noise order: x_T (unless initialNoise is given), then one normal array per step whose sigma > 0
 * (none when eta = 0).
 */
import { DiffusionError } from '../../core/errors';
import { Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import { NoiseSchedule } from '../schedules';
import { noiseFrom } from '../schedulers/ddim';
import type { NoiseSource, SchedulerSettings } from '../schedulers/types';
import { denoised } from './common';
import { denoise } from './loop';
import { etaOf, spacingOf, VpScheduler, vpSetup } from './scheduler';
import { makeTimesteps } from './timesteps';
import { DdimOptions, Denoiser, SampleShape, TimestepSpacing } from './types';

/** Song et al. eq. 16: sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev). */
export function ddimSigma(abar: number, abarPrev: number, eta: number): number {
  return eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
}

export interface DdimStepArgs {
  /** x_t, every sample at the same t. */
  x: Float32Array;
  /** The raw network output at (x_t, t). */
  modelOutput: Float32Array;
  prediction: Prediction;
  /** abar_t and abar of the timestep stepped to (1 after the last one). */
  abar: number;
  abarPrev: number;
  /** sigma_t of eq. 16 (ddimSigma); 0 is deterministic DDIM. */
  sigma: number;
  /** z ~ N(0, I) of x's length; needed when sigma > 0. */
  noise: Float32Array | null;
  clipX0?: boolean;
}

/** One DDIM step x_t -> x_{t-1} (Song et al. eq. 12), pure. */
export function ddimStep(a: DdimStepArgs): { prev: Float32Array; x0: Float32Array; eps: Float32Array } {
  // 1. predicted x0 (eq. 9: x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)) and the eps consistent with it
  const { x0, eps } = denoised(a.modelOutput, a.prediction, a.x, a.abar, a.clipX0 !== false);
  const { sigma, noise: z } = a;
  if (sigma > 0 && z === null) throw new DiffusionError('ddim: sigma > 0 needs noise');
  // 2. DDIM eq. 12: x_{t-1} = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z
  const cX0 = Math.sqrt(a.abarPrev);
  const cEps = Math.sqrt(Math.max(0, 1 - a.abarPrev - sigma * sigma));
  const prev = new Float32Array(a.x.length);
  for (let k = 0; k < prev.length; k++) prev[k] = cX0 * x0[k] + cEps * eps[k] + (sigma > 0 ? sigma * z![k] : 0);
  return { prev, x0, eps };
}

/**
 * DDIM as a scheduler of the project's gaussian models. The previous timestep is the next visited
 * one (equal to diffusers' t - T/steps for 'leading' spacing, and right for 'trailing' and
 * 'linspace' too); after the last, abar = 1, or abar_0 when set_alpha_to_one is false (diffusers
 * DDIMScheduler's final_alpha_cumprod). The schedule is float64 (schedules.ts); a Stable Diffusion
 * folder's `ddim` is schedulers/ddim.ts, diffusers' float32 DDIMScheduler.
 */
export class DdimModelScheduler extends VpScheduler {
  readonly name = 'ddim';
  readonly defaultSteps = 50;
  readonly eta: number;
  private readonly setAlphaToOne: boolean;

  constructor(schedule: NoiseSchedule, prediction: Prediction, o: DdimSchedulerOptions = {}) {
    super(schedule, prediction, spacingOf(o.spacing) ?? 'leading', o.clip ?? true, o.stepsOffset);
    this.eta = etaOf(o.eta) ?? 0;
    this.setAlphaToOne = o.setAlphaToOne !== false;
  }

  /** From a gaussian model's config (its diffusers keys give defaults) and createSampler's settings. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): DdimModelScheduler {
    const v = vpSetup(config, settings);
    return new DdimModelScheduler(v.schedule, v.prediction, { ...v, eta: settings.eta });
  }

  protected spaced(steps: number): Int32Array {
    return makeTimesteps(this.trainTimesteps, steps, this.spacing, this.stepsOffset);
  }

  protected stepAt(i: number, modelOutput: Float32Array, x: Float32Array, noise: NoiseSource | undefined) {
    const ac = this.schedule.alphasCumprod;
    const prev = this.prevOf(i);
    const abar = ac[this.ts[i]];
    const abarPrev = prev >= 0 ? ac[prev] : this.setAlphaToOne ? 1 : ac[0];
    const sigma = ddimSigma(abar, abarPrev, this.eta);
    const z = sigma > 0 ? noiseFrom(noise, x.length) : null;
    const r = ddimStep({ x, modelOutput, prediction: this.prediction, abar, abarPrev, sigma, noise: z, clipX0: this.clip });
    return { x: r.prev, x0: r.x0 };
  }
}

export interface DdimSchedulerOptions {
  eta?: number;
  /** Default 'leading'. */
  spacing?: TimestepSpacing;
  /** Clamp x0 to [-1, 1] (default true). */
  clip?: boolean;
  stepsOffset?: number;
  /** abar stepped to after the last timestep: 1 (default) or abar_0 (false). */
  setAlphaToOne?: boolean;
}

/** DDIM over `shape.n` samples (the scheduler run by the one loop); returns x_0. */
export async function ddimSample(
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape, opts: DdimOptions = {},
): Promise<Float32Array> {
  const scheduler = new DdimModelScheduler(schedule, prediction, { ...opts, clip: opts.clipX0 !== false });
  return denoise(scheduler, denoiser, shape, opts);
}
