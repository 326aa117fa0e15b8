/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep
 * solver of the diffusion ODE in the data-prediction form, in log-SNR time
 * lambda_t = log(alpha_t / sigma_t), with alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t).
 * The first step is first order (no history yet); the last step, to sigma = 0 (the clean
 * image), is first order too, as diffusers does (lower_order_final / final_sigmas_type "zero"),
 * and lands exactly on the model's x0 estimate. Deterministic: the Rng draws x_T only.
 *
 * The SDE variant (`dpm++2m-sde`; Lu et al. 2022, DPM-Solver++ section 5 / appendix, as
 * diffusers' algorithm_type "sde-dpmsolver++" with the midpoint solver) integrates the reverse SDE
 * instead: per step x_t = (sigma_t / sigma_s) e^{-h} x_s + alpha_t (1 - e^{-2h}) D
 * + sigma_t sqrt(1 - e^{-2h}) z, with the same second-order D and a fresh normal z (drawn after
 * x_T, one array per step, none on the last step). Like DDPM's ancestral noise, it corrects part
 * of the network's error on the way; it needs more steps than the ODE solver (docs/sampling.md).
 */
import { Prediction } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import { lambdaFromAbar } from '../objectives';
import { NoiseSchedule } from '../schedules';
import { noiseFrom } from '../schedulers/ddim';
import type { NoiseSource, SchedulerSettings } from '../schedulers/types';
import { denoised } from './common';
import { denoise } from './loop';
import { spacingOf, VpScheduler, vpSetup } from './scheduler';
import { makeTimesteps } from './timesteps';
import { Denoiser, DpmSolverOptions, SampleShape, TimestepSpacing } from './types';

export interface DpmStepArgs {
  /** x_s. */
  x: Float32Array;
  /** x_theta(x_s, s): the data prediction at s. */
  d: Float32Array;
  /** abar_s, and abar_t of the timestep stepped to (1: the clean image, sigma_t = 0). */
  abarS: number;
  abarT: number;
  /** The previous step's data prediction and its lambda, or null on the first step (first order). */
  history: { d: Float32Array; lambda: number } | null;
  /** The SDE variant's normal draw z (same length as x); absent: the ODE step. */
  noise?: Float32Array;
}

/** One DPM-Solver++(2M) step x_s -> x_t (Lu et al. 2022, Algorithm 2), or its SDE variant when `noise` is given; pure. */
export function dpmpp2mStep(a: DpmStepArgs): Float32Array {
  const { x, d: D0, abarS, abarT, history, noise } = a;
  // Final step to sigma = 0, alpha = 1, first order: x = (0 / sigma_s) x_s - 1 (e^{-inf} - 1) D0 = D0
  if (abarT === 1) return Float32Array.from(D0);
  const next = new Float32Array(x.length);
  const alphaS = Math.sqrt(abarS), sigmaS = Math.sqrt(1 - abarS);
  const alphaT = Math.sqrt(abarT), sigmaT = Math.sqrt(1 - abarT);
  const h = lambdaFromAbar(abarT) - lambdaFromAbar(abarS);
  // e^{-h} = (alpha_s / sigma_s) (sigma_t / alpha_t)
  const eMinusH = (alphaS * sigmaT) / (sigmaS * alphaT);
  // ODE: x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) D, written alpha_t - alpha_s sigma_t / sigma_s.
  // SDE: x_t = (sigma_t/sigma_s) e^{-h} x_s + alpha_t (1 - e^{-2h}) D + sigma_t sqrt(1 - e^{-2h}) z.
  const cX = noise ? (sigmaT / sigmaS) * eMinusH : sigmaT / sigmaS;
  const cD = noise ? alphaT * (1 - eMinusH * eMinusH) : alphaT - (alphaS * sigmaT) / sigmaS;
  const cZ = noise ? sigmaT * Math.sqrt(Math.max(0, 1 - eMinusH * eMinusH)) : 0;
  // Algorithm 2, line 2 (first order): D = x_theta(x_s, s). Lines 4-6 (second order):
  // r = h_{i-1} / h_i; D = (1 + 1/(2r)) x_theta(s) - 1/(2r) x_theta(s_prev) (the SDE's midpoint
  // D0 + (1/2)(1/r)(D0 - D_prev) is the same combination).
  let c0 = 1, c1 = 0;
  let prev = D0;
  if (history !== null) {
    const r = (lambdaFromAbar(abarS) - history.lambda) / h;
    c0 = 1 + 1 / (2 * r);
    c1 = 1 / (2 * r);
    prev = history.d;
  }
  for (let k = 0; k < x.length; k++) next[k] = cX * x[k] + cD * (c0 * D0[k] - c1 * prev[k]) + (noise ? cZ * noise[k] : 0);
  return next;
}

/**
 * DPM-Solver++(2M) as a scheduler of the project's gaussian models: `dpm++2m` (the ODE solver,
 * deterministic given x_T) or `dpm++2m-sde` (one normal array per step but the last). The
 * history (the previous data prediction and its lambda) is reset by setTimesteps and start.
 */
export class Dpmpp2mScheduler extends VpScheduler {
  readonly name: 'dpm++2m' | 'dpm++2m-sde';
  readonly defaultSteps = 20;
  private history: DpmStepArgs['history'] = null;

  readonly sde: boolean;

  constructor(schedule: NoiseSchedule, prediction: Prediction, o: DpmSchedulerOptions = {}) {
    super(schedule, prediction, spacingOf(o.spacing) ?? 'trailing', o.clip ?? true, o.stepsOffset);
    this.sde = o.sde === true;
    this.name = this.sde ? 'dpm++2m-sde' : 'dpm++2m';
  }

  /** From a gaussian model's config (its diffusers keys give defaults) and createSampler's settings; `sde` is the registry entry's. */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}, o: { sde?: boolean } = {}): Dpmpp2mScheduler {
    const v = vpSetup(config, settings);
    return new Dpmpp2mScheduler(v.schedule, v.prediction, { ...v, sde: o.sde });
  }

  protected spaced(steps: number): Int32Array {
    this.history = null;
    return makeTimesteps(this.trainTimesteps, steps, this.spacing, this.stepsOffset);
  }

  protected begin(begin: number): number {
    this.history = null;
    return super.begin(begin);
  }

  protected stepAt(i: number, modelOutput: Float32Array, x: Float32Array, noise: NoiseSource | undefined) {
    const ac = this.schedule.alphasCumprod;
    const prev = this.prevOf(i);
    const abarS = ac[this.ts[i]];
    const abarT = prev >= 0 ? ac[prev] : 1;
    const { x0: d } = denoised(modelOutput, this.prediction, x, abarS, this.clip);
    const z = this.sde && abarT < 1 ? noiseFrom(noise, x.length) : undefined;
    const next = dpmpp2mStep({ x, d, abarS, abarT, history: this.history, noise: z });
    this.history = { d, lambda: lambdaFromAbar(abarS) };
    return { x: next, x0: d };
  }
}

export interface DpmSchedulerOptions {
  /** The SDE variant (`dpm++2m-sde`); default the ODE solver (`dpm++2m`). */
  sde?: boolean;
  /** Default 'trailing'. */
  spacing?: TimestepSpacing;
  /** Clamp x0 to [-1, 1] (default true). */
  clip?: boolean;
  stepsOffset?: number;
}

/**
 * DPM-Solver++(2M) over `shape.n` samples (the scheduler run by the one loop).
 * The positional `sde` is kept for old callers; the SDE variant is its own registry entry, `dpm++2m-sde`.
 */
export async function dpmpp2mSample(
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape, opts: DpmSolverOptions = {}, sde = false,
): Promise<Float32Array> {
  const scheduler = new Dpmpp2mScheduler(schedule, prediction, { ...opts, sde, clip: opts.clipX0 !== false });
  return denoise(scheduler, denoiser, shape, opts);
}
