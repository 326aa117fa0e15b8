/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), with or without Karras sigmas, as
 * diffusers 0.27.2's DPMSolverMultistepScheduler (scheduling_dpmsolver_multistep.py) with
 * algorithm_type "dpmsolver++": data prediction x0_hat, lambda = log(alpha / sigma), first order on
 * the first step and (lower_order_final, fewer than 15 steps, or a final sigma of zero) on the last.
 * algorithm_type "sde-dpmsolver++" is the SDE variant (dpm++2m-sde; diffusers cites the same paper,
 * arXiv 2211.01095, for it): each step draws one N(0, I) array, before the update and whichever
 * order it takes, as diffusers' step() calls randn_tensor.
 */
import type { Prediction } from '../../core/diffusion-config';
import { OptionError } from '../../core/errors';
import {
  alphasCumprod32, checkSteps, indexOfTimestep, interpIndex, karrasSigmas, key, readSchedulerSource, roundHalfEven, sigmasOf, sigmaToT,
  type SchedulerSource,
} from './common';
import { noiseFrom } from './ddim';
import type { NoiseSource, Scheduler } from './types';

export interface DpmSolverOptions {
  /** Karras et al. 2022 sigma spacing (overrides the config's `use_karras_sigmas`). */
  karras?: boolean;
  /** The SDE variant, algorithm_type "sde-dpmsolver++" (overrides the config's `algorithm_type`). */
  sde?: boolean;
}

/** alpha_t = 1 / sqrt(sigma^2 + 1) and sigma_t = sigma alpha_t: the VP pair of a VE sigma. */
function alphaSigma(s: number): [number, number] {
  const a = 1 / Math.sqrt(s * s + 1);
  return [a, s * a];
}

export class DpmSolverMultistepScheduler implements Scheduler {
  readonly name: string;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly trainTimesteps: number;
  timesteps: Float64Array = new Float64Array(0);
  sigmas: Float64Array = new Float64Array(0);
  private readonly trainSigmas: Float64Array;
  private readonly prediction: Prediction;
  private readonly src: SchedulerSource;
  private readonly karras: boolean;
  private readonly sde: boolean;
  private readonly solverOrder: number;
  private readonly solverType: 'midpoint' | 'heun';
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly finalSigmaZero: boolean;
  private stepIndex: number | null = null;
  /** x0_hat of the last `solverOrder` steps, newest last. */
  private outputs: Float32Array[] = [];
  private lowerOrderNums = 0;

  static fromConfig(json: unknown, source = 'scheduler_config.json', options: DpmSolverOptions = {}): DpmSolverMultistepScheduler {
    return new DpmSolverMultistepScheduler(json, source, options);
  }

  private constructor(json: unknown, source: string, options: DpmSolverOptions) {
    this.src = readSchedulerSource(json, source, { timestep_spacing: 'linspace', steps_offset: 0 });
    const d = this.src.diffusion;
    this.trainTimesteps = d.timesteps;
    this.trainSigmas = sigmasOf(alphasCumprod32(d));
    this.prediction = d.prediction;
    if (options.karras !== undefined && typeof options.karras !== 'boolean') {
      throw new OptionError('karras', `must be true or false, got ${String(options.karras)}`);
    }
    const src = this.src;
    this.karras = options.karras ?? key(src, 'use_karras_sigmas', (c, v, k) => c.bool(v, k), false);
    if (options.sde !== undefined && typeof options.sde !== 'boolean') throw new OptionError('sde', `must be true or false, got ${String(options.sde)}`);
    const algorithm = key(src, 'algorithm_type', (c, v, k) => c.oneOf(v, k, ['dpmsolver++', 'sde-dpmsolver++']), 'dpmsolver++');
    this.sde = options.sde ?? algorithm === 'sde-dpmsolver++';
    this.name = `dpm++2m${this.sde ? '-sde' : ''}${this.karras ? '-karras' : ''}`;
    this.solverOrder = key(src, 'solver_order', (c, v, k) => c.int(v, k, 1), 2);
    if (this.solverOrder > 2) src.check.fail('solver_order', `${this.solverOrder} is not supported (expected 1 or 2)`);
    this.solverType = key(src, 'solver_type', (c, v, k) => c.oneOf(v, k, ['midpoint', 'heun'] as const), 'midpoint');
    this.lowerOrderFinal = key(src, 'lower_order_final', (c, v, k) => c.bool(v, k), true);
    this.eulerAtFinal = key(src, 'euler_at_final', (c, v, k) => c.bool(v, k), false);
    if (key(src, 'use_lu_lambdas', (c, v, k) => c.bool(v, k), false)) src.check.fail('use_lu_lambdas', 'Lu lambdas are not supported (set it to false)');
    this.finalSigmaZero = key(src, 'final_sigmas_type', (c, v, k) => c.oneOf(v, k, ['zero', 'sigma_min']), 'zero') === 'zero';
    const clipped = src.json.lambda_min_clipped;
    if (typeof clipped === 'number' && Number.isFinite(clipped)) src.check.fail('lambda_min_clipped', 'is not supported (leave it at -inf)');
    key(src, 'variance_type', (c, v, k) => c.fail(k, `${String(v)} is not supported (leave it null)`), undefined);
  }

  setTimesteps(steps: number): void {
    checkSteps(steps, this.trainTimesteps);
    const T = this.trainTimesteps, d = this.src.diffusion;
    let ts = new Float64Array(steps);
    const spacing = d.timestepSpacing ?? 'linspace';
    if (spacing === 'linspace') {
      // linspace(0, T - 1, n + 1).round()[::-1][:-1]
      for (let i = 0; i < steps; i++) ts[i] = roundHalfEven(((T - 1) * (steps - i)) / steps);
    } else if (spacing === 'leading') {
      const ratio = Math.floor(T / (steps + 1));
      for (let i = 0; i < steps; i++) ts[i] = (steps - i) * ratio + (d.stepsOffset ?? 0);
    } else {
      const ratio = T / steps;
      for (let i = 0; i < steps; i++) ts[i] = roundHalfEven(T - i * ratio) - 1;
    }
    let sigmas: Float64Array;
    if (this.karras) {
      // Karras et al. eq. 5 over the whole training range, then the nearest integer timestep of each sigma.
      const s = this.trainSigmas;
      sigmas = karrasSigmas(s[0], s[T - 1], steps);
      const logSigmas = s.map(Math.log);
      ts = sigmas.map((x) => roundHalfEven(sigmaToT(x, logSigmas)));
    } else sigmas = ts.map((t) => interpIndex(t, this.trainSigmas));
    this.timesteps = ts;
    this.sigmas = new Float64Array(steps + 1);
    sigmas.forEach((x, i) => { this.sigmas[i] = Math.fround(x); });
    this.sigmas[steps] = this.finalSigmaZero ? 0 : this.trainSigmas[0];
    this.stepIndex = null;
    this.outputs = [];
    this.lowerOrderNums = 0;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    if (this.timesteps.length === 0) throw new OptionError('steps', 'not set: call setTimesteps(n) before step()');
    const i = (this.stepIndex ??= indexOfTimestep(this.timesteps, t, this.name));
    const n = this.timesteps.length;
    const lowerFinal = i === n - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) || this.finalSigmaZero);
    const x0 = this.convert(modelOutput, sample, this.sigmas[i]);
    this.outputs.push(x0);
    if (this.outputs.length > this.solverOrder) this.outputs.shift();
    const z = this.sde ? noiseFrom(noise, sample.length) : null;
    const first = this.solverOrder === 1 || this.lowerOrderNums < 1 || lowerFinal;
    const prev = first ? this.firstOrder(x0, sample, i, z) : this.secondOrder(sample, i, z);
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    return prev;
  }

  /** The data prediction x0_hat (DPM-Solver++ works on x0, Lu et al. 2022 section 4). */
  private convert(m: Float32Array, x: Float32Array, sigma: number): Float32Array {
    const [a, s] = alphaSigma(sigma);
    const out = new Float32Array(m.length);
    for (let k = 0; k < out.length; k++) {
      out[k] = this.prediction === 'eps' ? (x[k] - s * m[k]) / a : this.prediction === 'x0' ? m[k] : a * x[k] - s * m[k];
    }
    return out;
  }

  /**
   * DPM-Solver++ eq. 9 (first order, = DDIM): x_t = (sigma_t / sigma_s) x - alpha_t (e^{-h} - 1) x0_hat;
   * SDE: x_t = (sigma_t / sigma_s) e^{-h} x + alpha_t (1 - e^{-2h}) x0_hat + sigma_t sqrt(1 - e^{-2h}) z.
   */
  private firstOrder(x0: Float32Array, x: Float32Array, i: number, z: Float32Array | null): Float32Array {
    const [at, st] = alphaSigma(this.sigmas[i + 1]);
    const [as, ss] = alphaSigma(this.sigmas[i]);
    const h = (Math.log(at) - Math.log(st)) - (Math.log(as) - Math.log(ss));
    const out = new Float32Array(x.length);
    if (z) {
      const e2 = Math.exp(-2 * h), cx = (st / ss) * Math.exp(-h), cd = at * (1 - e2), cz = st * Math.sqrt(1 - e2);
      for (let k = 0; k < out.length; k++) out[k] = cx * x[k] + cd * x0[k] + cz * z[k];
      return out;
    }
    const cx = st / ss, cd = at * (Math.exp(-h) - 1);
    for (let k = 0; k < out.length; k++) out[k] = cx * x[k] - cd * x0[k];
    return out;
  }

  /**
   * DPM-Solver++(2M), Lu et al. 2022 Algorithm 2: D0 = m0, D1 = (m0 - m1) / r0 with r0 = h_0 / h;
   * midpoint: x_t = (sigma_t / sigma_s0) x - alpha_t (e^{-h} - 1) (D0 + D1 / 2);
   * heun: ... - alpha_t (e^{-h} - 1) D0 + alpha_t ((e^{-h} - 1) / h + 1) D1.
   * SDE: x_t = (sigma_t / sigma_s0) e^{-h} x + alpha_t (1 - e^{-2h}) (D0 + D1 / 2) + sigma_t sqrt(1 - e^{-2h}) z
   * (heun: alpha_t ((1 - e^{-2h}) / (-2h) + 1) D1 in place of the D1 / 2 term).
   */
  private secondOrder(x: Float32Array, i: number, z: Float32Array | null): Float32Array {
    const [at, st] = alphaSigma(this.sigmas[i + 1]);
    const [a0, s0] = alphaSigma(this.sigmas[i]);
    const [a1, s1] = alphaSigma(this.sigmas[i - 1]);
    const lt = Math.log(at) - Math.log(st), l0 = Math.log(a0) - Math.log(s0), l1 = Math.log(a1) - Math.log(s1);
    const h = lt - l0, r0 = (l0 - l1) / h;
    const m0 = this.outputs[this.outputs.length - 1], m1 = this.outputs[this.outputs.length - 2];
    const e = Math.exp(-h) - 1;
    const out = new Float32Array(x.length);
    if (z) {
      const e2 = 1 - Math.exp(-2 * h), cx = (st / s0) * Math.exp(-h), cz = st * Math.sqrt(e2);
      const c1 = this.solverType === 'midpoint' ? 0.5 * at * e2 : at * (e2 / (-2 * h) + 1);
      for (let k = 0; k < out.length; k++) out[k] = cx * x[k] + at * e2 * m0[k] + c1 * ((m0[k] - m1[k]) / r0) + cz * z[k];
      return out;
    }
    for (let k = 0; k < out.length; k++) {
      const d1 = (m0[k] - m1[k]) / r0;
      const extra = this.solverType === 'midpoint' ? -0.5 * at * e * d1 : at * (e / h + 1) * d1;
      out[k] = (st / s0) * x[k] - at * e * m0[k] + extra;
    }
    return out;
  }

  /** alpha_t x0 + sigma_t noise at the sigma of timestep t. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    const [a, s] = alphaSigma(this.sigmas[this.stepIndex ?? indexOfTimestep(this.timesteps, t, this.name)]);
    const out = new Float32Array(x0.length);
    for (let k = 0; k < out.length; k++) out[k] = a * x0[k] + s * noise[k];
    return out;
  }
}
