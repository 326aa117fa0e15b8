/**
 * Euler's method on the probability-flow ODE in sigma space (Karras et al. 2022, Algorithm 1 with
 * no churn) as diffusers 0.27.2's EulerDiscreteScheduler (scheduling_euler_discrete.py):
 * x = x_T * sigma_max scale, the network sees x / sqrt(sigma^2 + 1), and
 * x_{i+1} = x_i + (x_i - x0_hat) / sigma_i * (sigma_{i+1} - sigma_i). `use_karras_sigmas` spaces
 * the sigmas by Karras et al. eq. 5 and maps them back to fractional timesteps.
 */
import type { Prediction } from '../../core/diffusion-config';
import type { Obj } from '../../core/schema';
import { OptionError } from '../../core/errors';
import {
  alphasCumprod32, checkSteps, indexOfTimestep, interpIndex, karrasSigmas, key, readSchedulerSource, sigmasOf, sigmaToT, spacedTimesteps,
  type SchedulerSource,
} from './common';
import type { NoiseSource, Scheduler } from './types';

/**
 * The shared part of the sigma-space schedulers (Euler, Euler ancestral): sigmas per inference
 * step (ending with 0), the step index, scaleModelInput and addNoise.
 */
export abstract class SigmaScheduler implements Scheduler {
  abstract readonly name: string;
  readonly order: number = 1;
  readonly trainTimesteps: number;
  timesteps: Float64Array = new Float64Array(0);
  /** sigma per inference step, then 0; float32 values as diffusers keeps them. */
  sigmas: Float64Array = new Float64Array(0);
  protected readonly trainSigmas: Float64Array;
  protected readonly prediction: Prediction;
  protected stepIndex: number | null = null;
  protected readonly src: SchedulerSource;

  /** `defaults`: the class's own defaults beyond the sigma schedulers' shared ones (Heun's clip_sample false). */
  protected constructor(json: unknown, source: string, defaults: Obj = {}) {
    this.src = readSchedulerSource(json, source, { timestep_spacing: 'linspace', steps_offset: 0, ...defaults });
    const d = this.src.diffusion;
    this.trainTimesteps = d.timesteps;
    this.trainSigmas = sigmasOf(alphasCumprod32(d));
    this.prediction = d.prediction;
  }

  get initNoiseSigma(): number {
    const max = this.sigmas.reduce((m, s) => Math.max(m, s), 0);
    const spacing = this.src.diffusion.timestepSpacing;
    return spacing === 'linspace' || spacing === 'trailing' ? max : Math.sqrt(max * max + 1);
  }

  /** The step's timesteps and sigmas (diffusers' set_timesteps, "linear" interpolation of sigma in t). */
  setTimesteps(steps: number): void {
    checkSteps(steps, this.trainTimesteps);
    const d = this.src.diffusion;
    const ts = spacedTimesteps(d.timestepSpacing ?? 'linspace', this.trainTimesteps, steps, d.stepsOffset ?? 0, false);
    const sigmas = ts.map((t) => interpIndex(t, this.trainSigmas));
    this.setSchedule(ts, sigmas);
  }

  /**
   * Replaces the interpolated sigmas by Karras et al. eq. 5 between the schedule's own extremes
   * (or the config's sigma_min/sigma_max), then each sigma's fractional timestep (`_convert_to_karras`, `_sigma_to_t`).
   */
  protected toKarras(sigmaMin?: number, sigmaMax?: number): void {
    const n = this.timesteps.length;
    const interpolated = this.sigmas.subarray(0, n);
    const sigmas = karrasSigmas(sigmaMin ?? interpolated[n - 1], sigmaMax ?? interpolated[0], n);
    const logSigmas = this.trainSigmas.map(Math.log);
    this.setSchedule(sigmas.map((s) => sigmaToT(s, logSigmas)), sigmas);
  }

  protected setSchedule(ts: Float64Array, sigmas: Float64Array): void {
    this.timesteps = ts.map(Math.fround);
    this.sigmas = new Float64Array(sigmas.length + 1);
    sigmas.forEach((s, i) => { this.sigmas[i] = Math.fround(s); });
    this.stepIndex = null;
  }

  protected index(t: number): number {
    if (this.timesteps.length === 0) throw new OptionError('steps', 'not set: call setTimesteps(n) before step()');
    return (this.stepIndex ??= indexOfTimestep(this.timesteps, t, this.name));
  }

  /** x / sqrt(sigma^2 + 1): the network was trained on variance-preserving inputs (Karras et al. Table 1, c_in). */
  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    const s = this.sigmas[this.index(t)];
    const c = 1 / Math.sqrt(s * s + 1);
    return sample.map((x) => x * c);
  }

  /** x0_hat from the network output at sigma (eps: x - sigma eps; v: Salimans & Ho's v in sigma space). */
  protected predictX0(m: number, x: number, sigma: number): number {
    if (this.prediction === 'eps') return x - sigma * m;
    if (this.prediction === 'x0') return m;
    return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
  }

  /** Variance-exploding forward process: x = x0 + sigma_t noise. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    const s = this.sigmas[this.stepIndex ?? indexOfTimestep(this.timesteps, t, this.name)];
    const out = new Float32Array(x0.length);
    for (let k = 0; k < out.length; k++) out[k] = x0[k] + noise[k] * s;
    return out;
  }

  abstract step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
}

export interface EulerOptions {
  /** Karras et al. 2022 sigma spacing (overrides the config's `use_karras_sigmas`). */
  karras?: boolean;
}

export class EulerDiscreteScheduler extends SigmaScheduler {
  readonly name: string;
  private readonly karras: boolean;
  private readonly sigmaMin: number | undefined;
  private readonly sigmaMax: number | undefined;

  static fromConfig(json: unknown, source = 'scheduler_config.json', options: EulerOptions = {}): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(json, source, options);
  }

  private constructor(json: unknown, source: string, options: EulerOptions) {
    super(json, source);
    if (options.karras !== undefined && typeof options.karras !== 'boolean') {
      throw new OptionError('karras', `must be true or false, got ${String(options.karras)}`);
    }
    this.karras = options.karras ?? key(this.src, 'use_karras_sigmas', (c, v, k) => c.bool(v, k), false);
    this.name = this.karras ? 'euler-karras' : 'euler';
    key(this.src, 'interpolation_type', (c, v, k) => c.oneOf(v, k, ['linear']), 'linear');
    key(this.src, 'timestep_type', (c, v, k) => c.oneOf(v, k, ['discrete']), 'discrete');
    this.sigmaMin = key(this.src, 'sigma_min', (c, v, k) => c.finite(v, k), undefined);
    this.sigmaMax = key(this.src, 'sigma_max', (c, v, k) => c.finite(v, k), undefined);
  }

  setTimesteps(steps: number): void {
    super.setTimesteps(steps);
    if (this.karras) this.toKarras(this.sigmaMin, this.sigmaMax);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    const i = this.index(t);
    const sigma = this.sigmas[i], dt = this.sigmas[i + 1] - sigma;
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      const x = sample[k];
      // Karras et al. Algorithm 1, lines 5-8 (no churn): d = (x - x0_hat) / sigma; x' = x + d (sigma' - sigma)
      const d = (x - this.predictX0(modelOutput[k], x, sigma)) / sigma;
      out[k] = x + d * dt;
    }
    this.stepIndex = i + 1;
    return out;
  }
}
