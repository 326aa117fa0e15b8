/**
 * Euler on the Karras sigma grid (Karras et al. 2022, "Elucidating the Design Space of
 * Diffusion-Based Generative Models", Algorithm 1 without its second-order correction): the
 * probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma (eq. 3 with sigma(t) = t, s(t) = 1)
 * integrated first order from sigma_max to 0, as diffusers' EulerDiscreteScheduler with
 * use_karras_sigmas. One network call per step; deterministic: the Rng draws x_T only.
 */
import { Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import { NoiseSchedule } from '../schedules';
import type { SchedulerSettings } from '../schedulers/types';
import { fromVp, KarrasScheduler, karrasSetup, toVp } from './karras';
import { denoise } from './loop';
import { Denoiser, SampleShape, SamplerOptions } from './types';

export interface EulerStepArgs {
  /** x at sigma (EDM scale: x_sigma = x0 + sigma n). */
  x: Float32Array;
  /** D(x; sigma): the x0 estimate at x. */
  x0: Float32Array;
  sigma: number;
  /** The sigma stepped to (0 for the last step). */
  sigmaNext: number;
}

/** One Euler step (Karras et al. Algorithm 1, lines 4-5), pure. */
export function eulerStep(a: EulerStepArgs): Float32Array {
  const { x, x0, sigma, sigmaNext } = a;
  const h = sigmaNext - sigma;
  const next = new Float32Array(x.length);
  // line 4: d_i = (x_i - D(x_i; sigma_i)) / sigma_i; line 5: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i
  for (let k = 0; k < x.length; k++) next[k] = x[k] + (h * (x[k] - x0[k])) / sigma;
  return next;
}

/** Euler on the Karras grid as a scheduler of the project's gaussian models: one call per grid point. */
export class EulerScheduler extends KarrasScheduler {
  readonly name = 'euler';
  readonly defaultSteps = 30;

  /** From a gaussian model's config and createSampler's settings. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): EulerScheduler {
    const v = karrasSetup(config, settings);
    return new EulerScheduler(v.schedule, v.prediction, v.clip);
  }

  protected calls(ts: Int32Array): Int32Array {
    return ts;
  }

  protected callIndex(gridIndex: number): number {
    return gridIndex;
  }

  protected stepAt(i: number, modelOutput: Float32Array, xVp: Float32Array) {
    const sigma = this.karras.sigmas[i], sigmaNext = this.karras.sigmas[i + 1];
    const x0 = this.x0At(modelOutput, xVp, sigma);
    const next = eulerStep({ x: fromVp(xVp, sigma), x0, sigma, sigmaNext });
    return { x: toVp(next, sigmaNext), x0 };
  }
}

/** Euler over `shape.n` samples (the scheduler run by the one loop); returns x_0. */
export async function eulerSample(
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape, opts: SamplerOptions = {},
): Promise<Float32Array> {
  return denoise(new EulerScheduler(schedule, prediction, opts.clipX0 !== false), denoiser, shape, opts);
}
