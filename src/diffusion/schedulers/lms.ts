/**
 * Linear multistep (Adams-Bashforth in sigma, Karras et al. 2022 section 3's ODE; k-diffusion's
 * sample_lms) as diffusers 0.27.2's LMSDiscreteScheduler (scheduling_lms_discrete.py), the default
 * of many Stable Diffusion 1.x configs: d_i = (x_i - x0_hat) / sigma_i, and
 * x_{i+1} = x_i + sum_j c_j d_{i-j}, where c_j integrates the Lagrange basis polynomial through the
 * last `order` (at most 4) sigmas over [sigma_i, sigma_{i+1}]. diffusers integrates with
 * scipy.integrate.quad; the integrand is a polynomial of degree < 4, so 4-point Gauss-Legendre is exact.
 */
import { OptionError } from '../../core/errors';
import { key } from './common';
import { SigmaScheduler } from './euler';

/** Gauss-Legendre nodes and weights on [-1, 1], 4 points: exact for polynomials of degree <= 7. */
const GL_X = [-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526];
const GL_W = [0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538];

export interface LmsOptions {
  /** Karras et al. 2022 sigma spacing (overrides the config's `use_karras_sigmas`). */
  karras?: boolean;
  /** The multistep order, 1 to 4 (diffusers' step() argument `order`, default 4). */
  order?: number;
}

export class LmsDiscreteScheduler extends SigmaScheduler {
  readonly name = 'lms';
  private readonly karras: boolean;
  private readonly lmsOrder: number;
  /** d of the last `lmsOrder` steps, newest last. */
  private derivatives: Float32Array[] = [];

  static fromConfig(json: unknown, source = 'scheduler_config.json', options: LmsOptions = {}): LmsDiscreteScheduler {
    return new LmsDiscreteScheduler(json, source, options);
  }

  private constructor(json: unknown, source: string, options: LmsOptions) {
    super(json, source);
    if (options.karras !== undefined && typeof options.karras !== 'boolean') {
      throw new OptionError('karras', `must be true or false, got ${String(options.karras)}`);
    }
    const order = options.order ?? 4;
    if (!Number.isInteger(order) || order < 1 || order > 4) throw new OptionError('order', `must be an integer in [1, 4], got ${order}`);
    this.lmsOrder = order;
    this.karras = options.karras ?? key(this.src, 'use_karras_sigmas', (c, v, k) => c.bool(v, k), false);
  }

  setTimesteps(steps: number): void {
    super.setTimesteps(steps);
    if (this.karras) this.toKarras();
    this.derivatives = [];
  }

  /** diffusers' get_lms_coefficient: the integral over [sigma_i, sigma_{i+1}] of prod_{k != j} (tau - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k}). */
  private coefficient(order: number, i: number, j: number): number {
    const s = this.sigmas;
    const basis = (tau: number) => {
      let p = 1;
      for (let k = 0; k < order; k++) if (k !== j) p *= (tau - s[i - k]) / (s[i - j] - s[i - k]);
      return p;
    };
    const a = s[i], b = s[i + 1], half = (b - a) / 2, mid = (a + b) / 2;
    let sum = 0;
    for (let q = 0; q < GL_X.length; q++) sum += GL_W[q] * basis(mid + half * GL_X[q]);
    return sum * half;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    const i = this.index(t);
    const sigma = this.sigmas[i];
    const d = new Float32Array(sample.length);
    for (let k = 0; k < d.length; k++) d[k] = (sample[k] - this.predictX0(modelOutput[k], sample[k], sigma)) / sigma;
    this.derivatives.push(d);
    if (this.derivatives.length > this.lmsOrder) this.derivatives.shift();
    const order = Math.min(i + 1, this.lmsOrder);
    const coeffs = Array.from({ length: order }, (_, j) => this.coefficient(order, i, j));
    const out = Float32Array.from(sample);
    const n = this.derivatives.length;
    // x_{i+1} = x_i + sum_j c_j d_{i-j}, the newest derivative with j = 0; an image-to-image start has
    // fewer derivatives than the order, and diffusers' zip() then drops the coefficients past them
    for (let j = 0; j < Math.min(order, n); j++) {
      const dj = this.derivatives[n - 1 - j], c = coeffs[j];
      for (let k = 0; k < out.length; k++) out[k] += c * dj[k];
    }
    this.stepIndex = i + 1;
    return out;
  }
}
