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
import { denoise, initialSample, shapeSize } from './common';
import { makeTimesteps } from './timesteps';
import { DdimOptions, Denoiser, SampleShape } from './types';

/** Song et al. eq. 16: sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev). */
export function ddimSigma(abar: number, abarPrev: number, eta: number): number {
  return eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
}

export async function ddimSample(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape, opts: DdimOptions = {},
): Promise<Float32Array> {
  const eta = opts.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new DiffusionError(`ddim: eta must be in [0, 1], got ${eta}`);
  const size = shapeSize(shape);
  const ts = makeTimesteps(schedule.timesteps, opts.steps ?? 50, opts.spacing ?? 'leading');
  const rng = new Rng(opts.seed ?? 0);
  let x: Float32Array = initialSample(rng, size, opts.initialNoise);
  for (let i = 0; i < ts.length; i++) {
    // 1. previous timestep value and the alphas
    const t = ts[i];
    const aT = schedule.alphasCumprod[t];
    const aPrev = i + 1 < ts.length ? schedule.alphasCumprod[ts[i + 1]] : 1;
    // 2. predicted x0 ("predicted x0" term of eq. 12, from eq. 9) and the eps consistent with it
    const { x0, eps } = await denoise(denoiser, schedule, prediction, x, shape.n, t, opts);
    // 3. sigma_t(eta), eq. 16
    const sigma = ddimSigma(aT, aPrev, eta);
    const z = sigma > 0 ? rng.normalArray(size) : null;
    // 4. DDIM eq. 12: x_{t-1} = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z
    const cX0 = Math.sqrt(aPrev);
    const cEps = Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma));
    const next = new Float32Array(size);
    for (let k = 0; k < size; k++) next[k] = cX0 * x0[k] + cEps * eps[k] + (z === null ? 0 : sigma * z[k]);
    x = next;
    await opts.onStep?.({ step: i, total: ts.length, t, x, x0 });
  }
  return x;
}
