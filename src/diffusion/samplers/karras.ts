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
import { DiffusionError, OptionError } from '../../core/errors';
import { DiffusionKind, Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import type { Rng } from '../../core/rng';
import { NoiseSchedule } from '../schedules';
import type { SchedulerSettings, StartOptions } from '../schedulers/types';
import { checkInit, denoised, initialSample } from './common';
import { shapeSize } from './loop';
import { checkSteps, IndexedScheduler, vpSetup } from './scheduler';
import { SampleShape } from './types';

/** EDM's default rho (eq. 5 and Table 1). */
export const KARRAS_RHO = 7;

/** sigma_t = sqrt((1 - abar_t) / abar_t) for every training timestep (increasing in t). */
export function scheduleSigmas(schedule: NoiseSchedule): Float64Array {
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
export function karrasGrid(schedule: NoiseSchedule, steps: number, name: string): KarrasGrid {
  const table = scheduleSigmas(schedule);
  const sigmaMax = table[table.length - 1];
  if (!Number.isFinite(sigmaMax)) throw new DiffusionError(`${name}: abar at t = T-1 is 0 (zero terminal SNR), so sigma_max is infinite`);
  const sigmas = karrasSigmas(steps, table[0], sigmaMax);
  const ts = Int32Array.from(sigmas.subarray(0, steps), (s) => sigmaToTimestep(s, table));
  return { sigmas, ts };
}

/**
 * The EDM schedulers (euler, heun) of the project's gaussian models: the Karras grid of `steps`
 * sigmas, x carried in the model's VP scale. The img2img start (SDEdit, Meng et al. 2022 sec. 3)
 * keeps the grid points whose timestep is below t_start = round(strength T), from
 * x_sigma = image + sigma z at the first of them (`addNoise`).
 */
export abstract class KarrasScheduler extends IndexedScheduler {
  readonly kinds: readonly DiffusionKind[] = ['gaussian'];
  readonly trainTimesteps: number;
  protected karras: KarrasGrid = { sigmas: new Float64Array(1), ts: new Int32Array(0) };

  constructor(readonly schedule: NoiseSchedule, readonly prediction: Prediction, protected readonly clip: boolean) {
    super();
    this.trainTimesteps = schedule.timesteps;
  }

  /** The timesteps of the network calls over the grid, and where the call list starts for grid point `from`. */
  protected abstract calls(ts: Int32Array): ArrayLike<number>;
  protected abstract callIndex(gridIndex: number): number;

  protected grid(steps: number): ArrayLike<number> {
    checkSteps(this.name, steps, this.trainTimesteps);
    this.karras = karrasGrid(this.schedule, steps, this.name);
    return this.calls(this.karras.ts);
  }

  /** EDM Algorithm 1, line 2: x = sigma_i z, plus the image for SDEdit (x_sigma = x0 + sigma z), in the VP scale. */
  private noisedAt(image: Float32Array | null, z: Float32Array, i: number): Float32Array {
    const s = this.karras.sigmas[i];
    const x = new Float32Array(z.length);
    for (let k = 0; k < x.length; k++) x[k] = (image === null ? 0 : image[k]) + s * z[k];
    return toVp(x, s);
  }

  /** x_sigma = x0 + sigma noise at the grid point of timestep t (the first, where t repeats), in the VP scale. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    const i = this.karras.ts.indexOf(t);
    if (i < 0) throw new OptionError('t', `${t} is not one of ${this.name}'s grid timesteps (call setTimesteps first)`);
    return this.noisedAt(x0, noise, i);
  }

  start(rng: Rng, shape: SampleShape, from: StartOptions = {}): { x: Float32Array; begin: number } {
    const size = shapeSize(shape);
    const z = initialSample(rng, size, from.initialNoise);
    const init = from.init;
    let image: Float32Array | null = null;
    let i = 0;
    if (init !== undefined) {
      checkInit(init, size);
      const tStart = Math.round(init.strength * this.trainTimesteps);
      if (tStart < this.trainTimesteps) {
        image = init.image;
        while (i < this.karras.ts.length && this.karras.ts[i] >= tStart) i++;
      }
    }
    return { x: this.noisedAt(image, z, i), begin: this.begin(Math.min(this.callIndex(i), this.timesteps.length)) };
  }

  /** D(x; sigma) from the raw output at x (VP scale). */
  protected x0At(modelOutput: Float32Array, x: Float32Array, sigma: number): Float32Array {
    return karrasDenoised(modelOutput, this.prediction, x, sigma, this.clip);
  }
}

/** The settings of euler and heun: the Karras grid takes no spacing (vpSetup without the config's). */
export function karrasSetup(config: ModelConfig, settings: SchedulerSettings): { schedule: NoiseSchedule; prediction: Prediction; clip: boolean } {
  return vpSetup(config, settings, false);
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
