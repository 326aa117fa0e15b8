/**
 * DDPM ancestral sampling (Ho, Jain & Abbeel 2020) as diffusers 0.27.2's DDPMScheduler
 * (scheduling_ddpm.py): the posterior mean of eq. 7 from the x0 estimate, plus sigma_t z, with the
 * previous timestep t - T // n (so n < T steps skip, as diffusers does). The noise is drawn after
 * the mean and only while t > 0, one draw per step: the order diffusers' step() calls randn_tensor.
 * `variance_type` fixed_small (beta-tilde_t, eq. 7), fixed_small_log (the same, as its standard
 * deviation directly) and fixed_large (beta_t) are taken; learned variances need a second output
 * half the project's UNets do not have, and are refused by name.
 */
import { key, readSchedulerSource } from './common';
import { DiscreteVpScheduler, noiseFrom } from './ddim';
import type { NoiseSource } from './types';

const VARIANCES = ['fixed_small', 'fixed_small_log', 'fixed_large'] as const;
type Variance = (typeof VARIANCES)[number];

export class DiffusersDdpmScheduler extends DiscreteVpScheduler {
  readonly name = 'ddpm';
  private readonly variance: Variance;

  static fromConfig(json: unknown, source = 'scheduler_config.json'): DiffusersDdpmScheduler {
    return new DiffusersDdpmScheduler(json, source);
  }

  private constructor(json: unknown, source: string) {
    const src = readSchedulerSource(json, source, { timestep_spacing: 'leading', clip_sample: true, steps_offset: 0 });
    super(src.diffusion);
    this.variance = key(src, 'variance_type', (c, v, k) => {
      if (v === 'learned' || v === 'learned_range') c.fail(k, `${v} needs a UNet that also outputs the variance (expected one of ${VARIANCES.join('|')})`);
      return c.oneOf(v, k, VARIANCES);
    }, 'fixed_small');
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    // 1-2. the previous timestep; alphas and betas: abar_{t-1} is 1 before the first timestep
    const { a, prevT } = this.alphaAndPrevious(t);
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const b = 1 - a, bPrev = 1 - aPrev;
    const alpha = a / aPrev, beta = 1 - alpha;
    // 4. eq. 7's posterior mean coefficients of x0 and x_t
    const c0 = (Math.sqrt(aPrev) * beta) / b, ct = (Math.sqrt(alpha) * bPrev) / b;
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      const x = sample[k], m = modelOutput[k];
      // 3. the x0 estimate (eq. 15 for eps), clamped when clip_sample
      let x0 = this.prediction === 'eps' ? (x - Math.sqrt(b) * m) / Math.sqrt(a)
        : this.prediction === 'x0' ? m : Math.sqrt(a) * x - Math.sqrt(b) * m;
      if (this.clip > 0) x0 = Math.min(this.clip, Math.max(-this.clip, x0));
      // 5. mu_t(x_t, x0) = c0 x0 + ct x_t
      out[k] = c0 * x0 + ct * x;
    }
    if (t > 0) {
      // 6. + sigma_t z: beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t (eq. 7), clamped at 1e-20 as diffusers does
      const small = Math.max((bPrev / b) * beta, 1e-20);
      const std = this.variance === 'fixed_small' ? Math.sqrt(small) : this.variance === 'fixed_small_log' ? Math.exp(0.5 * Math.log(small)) : Math.sqrt(beta);
      const z = noiseFrom(noise, sample.length);
      for (let k = 0; k < out.length; k++) out[k] += std * z[k];
    }
    return out;
  }
}
