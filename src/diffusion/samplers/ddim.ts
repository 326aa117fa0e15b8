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
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { denoised, startingPoint } from './common';
import { sampleLoop, shapeSize } from './loop';
import { makeTimesteps } from './timesteps';
import { DdimOptions, Denoiser, SampleShape } from './types';

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

export async function ddimSample(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape, opts: DdimOptions = {},
): Promise<Float32Array> {
  const eta = opts.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new DiffusionError(`ddim: eta must be in [0, 1], got ${eta}`);
  const size = shapeSize(shape);
  const rng = new Rng(opts.seed ?? 0);
  const { ts, x: xT } = startingPoint(makeTimesteps(schedule.timesteps, opts.steps ?? 50, opts.spacing ?? 'leading', opts.stepsOffset), schedule, rng, size, opts);
  return sampleLoop(denoiser, xT, shape.n, {
    ts,
    step(i, x, out) {
      // the previous timestep is the next visited one; after the last, abar = 1, or abar_0 when
      // set_alpha_to_one is false (diffusers DDIMScheduler's final_alpha_cumprod)
      const abar = schedule.alphasCumprod[ts[i]];
      const abarPrev = i + 1 < ts.length ? schedule.alphasCumprod[ts[i + 1]] : opts.setAlphaToOne === false ? schedule.alphasCumprod[0] : 1;
      const sigma = ddimSigma(abar, abarPrev, eta);
      const noise = sigma > 0 ? rng.normalArray(size) : null;
      const r = ddimStep({ x, modelOutput: out, prediction, abar, abarPrev, sigma, noise, clipX0: opts.clipX0 });
      return { x: r.prev, x0: r.x0 };
    },
  }, opts);
}
