/**
 * DDIM (Song, Meng & Ermon 2021) as diffusers 0.27.2's DDIMScheduler (scheduling_ddim.py): the
 * previous timestep is t - T // n whatever the spacing, abar before t = 0 is 1 or abar_0
 * (`set_alpha_to_one`), x0 is clamped to [-r, r] when `clip_sample`. `eta` (default 0) is the
 * pipeline's argument to step() in diffusers; here an option of the scheduler.
 */
import { OptionError } from '../../core/errors';
import type { DiffusionConfig, Prediction, TimestepSpacingName } from '../../core/diffusion-config';
import { alphasCumprod32, checkSteps, readSchedulerSource, spacedTimesteps } from './common';
import type { NoiseSource, Scheduler } from './types';

export interface DdimOptions {
  /** eta of eq. 16: 0 is deterministic DDIM, 1 matches DDPM's variance. */
  eta?: number;
}

/**
 * What diffusers' DDIM and DDPM schedulers share: abar_t from the config (float32, as torch has
 * it), the leading/trailing/linspace grid with steps_offset, an identity scaleModelInput, the
 * previous timestep t - T // n (diffusers' previous_timestep without custom timesteps), and the
 * forward process as addNoise.
 */
export abstract class DiscreteVpScheduler implements Scheduler {
  abstract readonly name: string;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly trainTimesteps: number;
  timesteps: Float64Array = new Float64Array(0);
  protected readonly alphasCumprod: Float64Array;
  protected readonly prediction: Prediction;
  protected readonly clip: number;
  private readonly spacing: TimestepSpacingName;
  private readonly stepsOffset: number;
  private steps = 0;

  protected constructor(d: DiffusionConfig) {
    this.trainTimesteps = d.timesteps;
    this.alphasCumprod = alphasCumprod32(d);
    this.prediction = d.prediction;
    this.clip = d.clipSample ?? 0;
    this.spacing = d.timestepSpacing ?? 'leading';
    this.stepsOffset = d.stepsOffset ?? 0;
  }

  setTimesteps(steps: number): void {
    checkSteps(steps, this.trainTimesteps);
    this.steps = steps;
    this.timesteps = spacedTimesteps(this.spacing, this.trainTimesteps, steps, this.stepsOffset, true);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** abar_t and the previous timestep t - T // n. */
  protected alphaAndPrevious(t: number): { a: number; prevT: number } {
    if (this.steps === 0) throw new OptionError('steps', 'not set: call setTimesteps(n) before step()');
    const a = this.alphasCumprod[t];
    if (a === undefined) throw new OptionError('t', `must be an integer timestep in [0, ${this.trainTimesteps - 1}], got ${t}`);
    return { a, prevT: t - Math.floor(this.trainTimesteps / this.steps) };
  }

  abstract step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array;

  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    return addNoiseVp(this.alphasCumprod, x0, noise, t);
  }
}

export class DdimScheduler extends DiscreteVpScheduler {
  readonly name = 'ddim';
  private readonly finalAlphaCumprod: number;
  private readonly eta: number;

  static fromConfig(json: unknown, source = 'scheduler_config.json', options: DdimOptions = {}): DdimScheduler {
    return new DdimScheduler(json, source, options);
  }

  private constructor(json: unknown, source: string, options: DdimOptions) {
    const { diffusion: d } = readSchedulerSource(json, source, { timestep_spacing: 'leading', set_alpha_to_one: true, clip_sample: true });
    super(d);
    const eta = options.eta ?? 0;
    if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw new OptionError('eta', `must be a number in [0, 1], got ${String(eta)}`);
    this.eta = eta;
    this.finalAlphaCumprod = d.setAlphaToOne ? 1 : this.alphasCumprod[0];
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    // 1-2. the previous step's timestep; alphas and betas
    const { a, prevT } = this.alphaAndPrevious(t);
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const b = 1 - a;
    // 5. sigma_t(eta) of eq. 16: eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)
    const std = this.eta * Math.sqrt(((1 - aPrev) / b) * (1 - a / aPrev));
    const z = std > 0 ? noiseFrom(noise, sample.length) : null;
    const cDir = Math.sqrt(Math.max(0, 1 - aPrev - std * std));
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      const x = sample[k], m = modelOutput[k];
      // 3. predicted x0, eq. 12's "predicted x0" term: x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
      let x0: number, eps: number;
      if (this.prediction === 'eps') { x0 = (x - Math.sqrt(b) * m) / Math.sqrt(a); eps = m; }
      else if (this.prediction === 'x0') { x0 = m; eps = (x - Math.sqrt(a) * x0) / Math.sqrt(b); }
      else { x0 = Math.sqrt(a) * x - Math.sqrt(b) * m; eps = Math.sqrt(a) * m + Math.sqrt(b) * x; }
      // 4. clamp x0 (clip_sample)
      if (this.clip > 0) x0 = Math.min(this.clip, Math.max(-this.clip, x0));
      // 6-7. DDIM eq. 12: x_{t-1} = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma_t^2) eps + sigma_t z
      out[k] = Math.sqrt(aPrev) * x0 + cDir * eps + (z ? std * z[k] : 0);
    }
    return out;
  }
}

/** DDPM's forward process (Ho et al. eq. 4): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t an integer. */
export function addNoiseVp(alphasCumprod: Float64Array, x0: Float32Array, noise: Float32Array, t: number): Float32Array {
  const a = alphasCumprod[t];
  if (a === undefined || !Number.isInteger(t)) throw new OptionError('t', `must be an integer timestep in [0, ${alphasCumprod.length - 1}], got ${t}`);
  const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
  const out = new Float32Array(x0.length);
  for (let k = 0; k < out.length; k++) out[k] = sa * x0[k] + sb * noise[k];
  return out;
}

/** The noise a stochastic step draws; a missing source is the caller's error. */
export function noiseFrom(noise: NoiseSource | undefined, n: number): Float32Array {
  if (!noise) throw new OptionError('noise', 'is needed by a stochastic step (pass an Rng)');
  const z = noise.normalArray(n);
  if (z.length !== n) throw new OptionError('noise', `gave ${z.length} values, expected ${n}`);
  return z;
}
