/**
 * Euler on the Karras sigma grid (Karras et al. 2022, "Elucidating the Design Space of
 * Diffusion-Based Generative Models", Algorithm 1 without its second-order correction): the
 * probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma (eq. 3 with sigma(t) = t, s(t) = 1)
 * integrated first order from sigma_max to 0, as diffusers' EulerDiscreteScheduler with
 * use_karras_sigmas. One network call per step; deterministic: the Rng draws x_T only.
 */
import { Prediction } from '../../core/diffusion-config';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { fromVp, karrasDenoised, karrasGrid, karrasStart, toVp } from './karras';
import { sampleLoop, shapeSize } from './loop';
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

export async function eulerSample(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape, opts: SamplerOptions = {},
): Promise<Float32Array> {
  const size = shapeSize(shape);
  const rng = new Rng(opts.seed ?? 0);
  const { grid, x: xT } = karrasStart(karrasGrid(schedule, opts.steps ?? 30, 'euler'), schedule, rng, size, opts);
  const { sigmas, ts } = grid;
  return sampleLoop(denoiser, xT, shape.n, {
    ts,
    step(i, xVp, out) {
      const sigma = sigmas[i], sigmaNext = sigmas[i + 1];
      const x0 = karrasDenoised(out, prediction, xVp, sigma, opts.clipX0 !== false);
      const next = eulerStep({ x: fromVp(xVp, sigma), x0, sigma, sigmaNext });
      return { x: toVp(next, sigmaNext), x0 };
    },
  }, opts);
}
