/**
 * Heun's method on the probability-flow ODE in sigma space (Karras et al. 2022, Algorithm 1 with no
 * churn: an Euler step, then the trapezoidal correction with the derivative at the new sigma) as
 * diffusers 0.27.2's HeunDiscreteScheduler (scheduling_heun_discrete.py). diffusers lists each
 * inner timestep twice (`repeat_interleave(2)`): n steps are 2n - 1 `timesteps`, one per network
 * call, and the last one is a plain Euler step to sigma = 0 (no correction divides by zero).
 */
import { OptionError } from '../../core/errors';
import { key } from './common';
import { SigmaScheduler } from './euler';

export interface HeunOptions {
  /** Karras et al. 2022 sigma spacing (overrides the config's `use_karras_sigmas`). */
  karras?: boolean;
}

export class HeunDiscreteScheduler extends SigmaScheduler {
  readonly name = 'heun';
  readonly order = 2;
  private readonly karras: boolean;
  /** clip_sample_range when clip_sample, else 0. */
  private readonly clip: number;
  /** The first-order half's derivative, sigma step and sample; null between whole steps (`state_in_first_order`). */
  private first: { d: Float32Array; dt: number; x: Float32Array } | null = null;

  static fromConfig(json: unknown, source = 'scheduler_config.json', options: HeunOptions = {}): HeunDiscreteScheduler {
    return new HeunDiscreteScheduler(json, source, options);
  }

  private constructor(json: unknown, source: string, options: HeunOptions) {
    super(json, source, { clip_sample: false });
    if (options.karras !== undefined && typeof options.karras !== 'boolean') {
      throw new OptionError('karras', `must be true or false, got ${String(options.karras)}`);
    }
    this.karras = options.karras ?? key(this.src, 'use_karras_sigmas', (c, v, k) => c.bool(v, k), false);
    this.clip = this.src.diffusion.clipSample ?? 0;
  }

  /** diffusers' set_timesteps: sigmas [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0], timesteps [t0, t1, t1, ..., t_{n-1}, t_{n-1}]. */
  setTimesteps(steps: number): void {
    super.setTimesteps(steps);
    if (this.karras) this.toKarras();
    const n = this.timesteps.length;
    const ts: number[] = [this.timesteps[0]], sigmas: number[] = [this.sigmas[0]];
    for (let i = 1; i < n; i++) ts.push(this.timesteps[i], this.timesteps[i]);
    for (let i = 1; i < n; i++) sigmas.push(this.sigmas[i], this.sigmas[i]);
    this.setSchedule(Float64Array.from(ts), Float64Array.from(sigmas));
    this.first = null;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    const i = this.index(t);
    const first = this.first;
    // the first half steps from sigma_i to sigma_{i+1}; the second evaluates the network at sigma_{i+1} (= sigmas[i] after doubling)
    const sigma = first ? this.sigmas[i - 1] : this.sigmas[i];
    const next = first ? this.sigmas[i] : this.sigmas[i + 1];
    const at = first ? next : sigma;
    const d = new Float32Array(sample.length);
    for (let k = 0; k < d.length; k++) {
      let x0 = this.predictX0(modelOutput[k], sample[k], at);
      if (this.clip > 0) x0 = Math.min(this.clip, Math.max(-this.clip, x0));
      d[k] = (sample[k] - x0) / at;
    }
    const out = new Float32Array(sample.length);
    if (!first) {
      // Algorithm 1, lines 5-7: d_i = (x_i - D(x_i)) / sigma_i; x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i
      const dt = next - sigma;
      for (let k = 0; k < out.length; k++) out[k] = sample[k] + d[k] * dt;
      this.first = { d, dt, x: sample };
    } else {
      // lines 9-10: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i + d'_i) / 2, from the first half's x_i
      for (let k = 0; k < out.length; k++) out[k] = first.x[k] + ((first.d[k] + d[k]) / 2) * first.dt;
      this.first = null;
    }
    this.stepIndex = i + 1;
    return out;
  }
}
