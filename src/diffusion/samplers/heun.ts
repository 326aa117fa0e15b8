/**
 * Heun on the Karras sigma grid (Karras et al. 2022, Algorithm 1, deterministic, S_churn = 0):
 * an Euler predictor to sigma_{i+1}, then the trapezoidal correction with the slope evaluated
 * there, except on the last step to sigma = 0, which stays Euler (line 6). Second order;
 * n steps cost 2n - 1 network calls, and the loop sees each call as one of its steps (ts lists
 * sigma_0, sigma_1, sigma_1, sigma_2, sigma_2, ..., sigma_{n-1}'s timesteps), so onStep fires
 * 2n - 1 times, after the predictor with the predicted sample. Deterministic: the Rng draws x_T only.
 */
import { Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import { NoiseSchedule } from '../schedules';
import type { SchedulerSettings } from '../schedulers/types';
import { eulerStep } from './euler';
import { fromVp, KarrasScheduler, karrasSetup, toVp } from './karras';
import { denoise } from './loop';
import { Denoiser, SampleShape, SamplerOptions } from './types';

export interface HeunStepArgs {
  /** x_i and D(x_i; sigma_i). */
  x: Float32Array;
  x0: Float32Array;
  /** The Euler predictor x_{i+1} (eulerStep) and D(x_{i+1}; sigma_{i+1}). */
  xPred: Float32Array;
  x0Pred: Float32Array;
  sigma: number;
  /** sigma_{i+1} > 0 (the step to 0 is Euler). */
  sigmaNext: number;
}

/** Heun's correction (Karras et al. Algorithm 1, lines 7-8), pure. */
export function heunStep(a: HeunStepArgs): Float32Array {
  const { x, x0, xPred, x0Pred, sigma, sigmaNext } = a;
  const h = sigmaNext - sigma;
  const next = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const d = (x[k] - x0[k]) / sigma; // line 4
    const dPrime = (xPred[k] - x0Pred[k]) / sigmaNext; // line 7: d'_i = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1}
    next[k] = x[k] + h * (0.5 * d + 0.5 * dPrime); // line 8: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i/2 + d'_i/2)
  }
  return next;
}

/**
 * Heun on the Karras grid as a scheduler of the project's gaussian models (order 2): `timesteps`
 * lists each network call, sigma_0, sigma_1, sigma_1, sigma_2, ..., sigma_{n-1}'s timesteps; call
 * j is the predictor of step j/2 (even j) or the corrector of step (j-1)/2 (odd j).
 */
export class HeunScheduler extends KarrasScheduler {
  readonly name = 'heun';
  readonly order = 2;
  readonly defaultSteps = 15;
  private held: { x: Float32Array; x0: Float32Array } | null = null;

  /** From a gaussian model's config and createSampler's settings. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): HeunScheduler {
    const v = karrasSetup(config, settings);
    return new HeunScheduler(v.schedule, v.prediction, v.clip);
  }

  protected calls(ts: Int32Array): Int32Array {
    this.held = null;
    return Int32Array.from({ length: Math.max(0, 2 * ts.length - 1) }, (_, j) => ts[Math.ceil(j / 2)]);
  }

  protected callIndex(gridIndex: number): number {
    return 2 * gridIndex;
  }

  protected stepAt(j: number, modelOutput: Float32Array, xVp: Float32Array) {
    const i = j >> 1;
    const sigma = this.karras.sigmas[i], sigmaNext = this.karras.sigmas[i + 1];
    if (j % 2 === 0) {
      const x = fromVp(xVp, sigma);
      const x0 = this.x0At(modelOutput, xVp, sigma);
      const xPred = eulerStep({ x, x0, sigma, sigmaNext }); // lines 4-5
      this.held = { x, x0 };
      return { x: toVp(xPred, sigmaNext), x0 };
    }
    const x0Pred = this.x0At(modelOutput, xVp, sigmaNext);
    const next = heunStep({ ...this.held!, xPred: fromVp(xVp, sigmaNext), x0Pred, sigma, sigmaNext });
    return { x: toVp(next, sigmaNext), x0: x0Pred };
  }
}

/** Heun over `shape.n` samples (the scheduler run by the one loop); returns x_0. */
export async function heunSample(
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape, opts: SamplerOptions = {},
): Promise<Float32Array> {
  return denoise(new HeunScheduler(schedule, prediction, opts.clipX0 !== false), denoiser, shape, opts);
}
