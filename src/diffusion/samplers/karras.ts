/**
 * The noise-level grid and the network interface of the EDM samplers (Karras et al. 2022,
 * "Elucidating the Design Space of Diffusion-Based Generative Models"), for a VP-trained model.
 * EDM works with x_sigma = x0 + sigma n; the VP model sees x_t = sqrt(abar) x0 + sqrt(1 - abar) eps,
 * which is x_sigma sqrt(abar) at sigma = sqrt((1 - abar) / abar), i.e. abar = 1 / (1 + sigma^2).
 *
 * The shared loop carries x in the model's own VP scale, x_t = x_sigma / sqrt(sigma^2 + 1) (what
 * the network is fed, and what onStep shows for every sampler); each step reads x_sigma back.
 * The network takes integer timesteps, so each sigma is mapped to its timestep as diffusers'
 * DPMSolverMultistepScheduler does with use_karras_sigmas: interpolate t linearly in log sigma,
 * then round to the nearest integer. The ODE update itself uses the exact grid sigma.
 */
import { DiffusionError } from '../../core/errors';
import { Prediction } from '../../core/diffusion-config';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { checkInit, denoised, initialSample } from './common';
import { SamplerOptions } from './types';

/** EDM's default rho (eq. 5 and Table 1). */
export const KARRAS_RHO = 7;

/** sigma_t = sqrt((1 - abar_t) / abar_t) for every training timestep (increasing in t). */
export function scheduleSigmas(schedule: Schedule): Float64Array {
  return schedule.alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
}

/**
 * Karras et al. eq. 5: sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
 * i = 0..n-1, then sigma_n = 0. n = 1 gives [sigma_max, 0] (numpy.linspace(0, 1, 1) is [0]).
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = KARRAS_RHO): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new DiffusionError(`karras sigmas: n must be a positive integer, got ${n}`);
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Number.isFinite(sigmaMax))) {
    throw new DiffusionError(`karras sigmas: need 0 < sigma_min < sigma_max < infinity, got ${sigmaMin}, ${sigmaMax}`);
  }
  const out = new Float64Array(n + 1);
  const lo = sigmaMin ** (1 / rho), hi = sigmaMax ** (1 / rho);
  for (let i = 0; i < n; i++) out[i] = (hi + (n === 1 ? 0 : i / (n - 1)) * (lo - hi)) ** rho;
  out[0] = sigmaMax;
  if (n > 1) out[n - 1] = sigmaMin;
  return out;
}

/** The timestep whose sigma is nearest `sigma` after linear interpolation in log sigma, rounded. */
export function sigmaToTimestep(sigma: number, sigmas: Float64Array): number {
  const ls = Math.log(sigma);
  if (ls <= Math.log(sigmas[0])) return 0;
  for (let t = 1; t < sigmas.length; t++) {
    const hi = Math.log(sigmas[t]);
    if (ls <= hi) {
      const lo = Math.log(sigmas[t - 1]);
      return Math.round(t - 1 + (ls - lo) / (hi - lo));
    }
  }
  return sigmas.length - 1;
}

/** A sampler's grid: sigma_0 > ... > sigma_{n-1} > sigma_n = 0, and the timestep of each nonzero sigma. */
export interface KarrasGrid {
  sigmas: Float64Array;
  ts: Int32Array;
}

/** The Karras grid of `steps` network sigmas between the schedule's sigma at t = 0 and t = T-1. */
export function karrasGrid(schedule: Schedule, steps: number, name: string): KarrasGrid {
  const table = scheduleSigmas(schedule);
  const sigmaMax = table[table.length - 1];
  if (!Number.isFinite(sigmaMax)) throw new DiffusionError(`${name}: abar at t = T-1 is 0 (zero terminal SNR), so sigma_max is infinite`);
  const sigmas = karrasSigmas(steps, table[0], sigmaMax);
  const ts = Int32Array.from(sigmas.subarray(0, steps), (s) => sigmaToTimestep(s, table));
  return { sigmas, ts };
}

/**
 * Where an EDM sampler starts: x = sigma_0 z (z the caller's initialNoise or the Rng's first
 * draws). With `init` (SDEdit, Meng et al. 2022 sec. 3): the grid points whose timestep is below
 * t_start = round(strength T), from x = image + sigma z at the first of them.
 */
export function karrasStart(
  grid: KarrasGrid, schedule: Schedule, rng: Rng, size: number, opts: Pick<SamplerOptions, 'initialNoise' | 'init'>,
): { grid: KarrasGrid; x: Float32Array } {
  const z = initialSample(rng, size, opts.initialNoise);
  let image: Float32Array | null = null;
  let from = 0;
  const init = opts.init;
  if (init !== undefined) {
    checkInit(init, size);
    const tStart = Math.round(init.strength * schedule.timesteps);
    if (tStart < schedule.timesteps) {
      image = init.image;
      while (from < grid.ts.length && grid.ts[from] >= tStart) from++;
    }
  }
  const kept = { sigmas: grid.sigmas.subarray(from), ts: grid.ts.subarray(from) };
  const s = kept.sigmas[0];
  const x = new Float32Array(size);
  // EDM Algorithm 1, line 2: x_0 = sigma_0 n (plus the image for SDEdit: x_sigma = x0 + sigma n)
  for (let k = 0; k < size; k++) x[k] = (image === null ? 0 : image[k]) + s * z[k];
  return { grid: kept, x: toVp(x, s) };
}

/**
 * The network's x0 estimate D(x; sigma) (Karras et al. eq. 7's denoiser) from its raw output at the
 * VP input xT = x_sigma / sqrt(sigma^2 + 1), read at abar = 1 / (1 + sigma^2) by the prediction
 * kind (eps: x0 = x_sigma - sigma eps, as diffusers' EulerDiscreteScheduler), clipped unless `clip` is false.
 */
export function karrasDenoised(out: Float32Array, prediction: Prediction, xT: Float32Array, sigma: number, clip: boolean): Float32Array {
  return denoised(out, prediction, xT, 1 / (1 + sigma * sigma), clip).x0;
}

/** x_sigma / sqrt(sigma^2 + 1): x_sigma as the VP network's x_t = sqrt(abar) x_sigma. */
export function toVp(x: Float32Array, sigma: number): Float32Array {
  const c = 1 / Math.sqrt(sigma * sigma + 1);
  return x.map((v) => v * c);
}

/** x_t sqrt(sigma^2 + 1): the VP sample back as x_sigma. */
export function fromVp(x: Float32Array, sigma: number): Float32Array {
  const c = Math.sqrt(sigma * sigma + 1);
  return x.map((v) => v * c);
}
