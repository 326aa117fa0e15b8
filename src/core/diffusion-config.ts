/**
 * The vocabularies (one list each of kinds, schedules, predictions, samplers) and the `diffusion`
 * section of a recipe or model: how many timesteps, which beta schedule, what the network predicts.
 */
import { Checker } from './schema';

/** gaussian: DDPM-style noise; toy: x = (1-a) x0 + a noise, x0-predicting; cold-blur: Bansal et al. 2022. */
export type DiffusionKind = 'gaussian' | 'toy' | 'cold-blur';
export type ScheduleKind = 'linear' | 'cosine' | 'sigmoid' | 'scaled-linear';
export type Prediction = 'eps' | 'x0' | 'v';
/** The samplers of gaussian models (toy and cold-blur models have one each). */
export type SamplerName = 'ddpm' | 'ddim' | 'dpm++2m' | 'dpm++2m-sde' | 'euler' | 'heun';

export const KINDS: readonly DiffusionKind[] = ['gaussian', 'toy', 'cold-blur'];
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['linear', 'cosine', 'sigmoid', 'scaled-linear'];
export const PREDICTIONS: readonly Prediction[] = ['eps', 'x0', 'v'];
export const SAMPLER_NAMES: readonly SamplerName[] = ['ddpm', 'ddim', 'dpm++2m', 'dpm++2m-sde', 'euler', 'heun'];

export interface DiffusionConfig {
  /** Number of training timesteps T; t ranges over [0, T-1]. */
  timesteps: number;
  schedule: ScheduleKind;
  /** beta_1 (ignored by `cosine`). */
  betaStart: number;
  /** beta_T (ignored by `cosine`). */
  betaEnd: number;
  /** What the network outputs: the noise, the clean image, or v (Salimans & Ho 2022). */
  prediction: Prediction;
  /**
   * The optional fields below come from a diffusers `scheduler_config.json` (core/diffusers-config.ts);
   * absent, samplers keep their own defaults.
   */
  /** Added to every inference timestep of `leading` spacing (diffusers `steps_offset`; SD 1.x: 1). */
  stepsOffset?: number;
  /** Which training timesteps a run of fewer steps visits (diffusers `timestep_spacing`). */
  timestepSpacing?: TimestepSpacingName;
  /** Clamp the predicted x0 to [-r, r] (diffusers `clip_sample` + `clip_sample_range`); 0 = no clamp. */
  clipSample?: number;
  /** DDIM's abar before t = 0: 1 (true) or abar_0 (false, SD 1.x) (diffusers `set_alpha_to_one`). */
  setAlphaToOne?: boolean;
}

export type TimestepSpacingName = 'leading' | 'trailing' | 'linspace';
export const TIMESTEP_SPACINGS: readonly TimestepSpacingName[] = ['leading', 'trailing', 'linspace'];

export const DEFAULT_DIFFUSION_CONFIG: Readonly<DiffusionConfig> = Object.freeze({
  timesteps: 1000,
  schedule: 'linear',
  betaStart: 1e-4,
  betaEnd: 0.02,
  prediction: 'eps',
});

const KEYS: readonly (keyof DiffusionConfig)[] = [
  'timesteps', 'schedule', 'betaStart', 'betaEnd', 'prediction', 'stepsOffset', 'timestepSpacing', 'clipSample', 'setAlphaToOne',
];

/** The diffusion section at checker `c` (its keys are joined below c's path); undefined gives the defaults. */
export function checkDiffusionConfig(c: Checker, obj: unknown): DiffusionConfig {
  if (obj === undefined) return { ...DEFAULT_DIFFUSION_CONFIG };
  const o = c.object(obj, '', KEYS);
  const cfg: DiffusionConfig = { ...DEFAULT_DIFFUSION_CONFIG };
  if (o.timesteps !== undefined) cfg.timesteps = c.int(o.timesteps, 'timesteps', 2);
  if (o.schedule !== undefined) cfg.schedule = c.oneOf(o.schedule, 'schedule', SCHEDULE_KINDS);
  if (o.prediction !== undefined) cfg.prediction = c.oneOf(o.prediction, 'prediction', PREDICTIONS);
  for (const k of ['betaStart', 'betaEnd'] as const) {
    if (o[k] !== undefined) cfg[k] = c.inRange(c.finite(o[k], k), k, '(0, 1)');
  }
  if (o.stepsOffset !== undefined) cfg.stepsOffset = c.nonNegInt(o.stepsOffset, 'stepsOffset');
  if (o.timestepSpacing !== undefined) cfg.timestepSpacing = c.oneOf(o.timestepSpacing, 'timestepSpacing', TIMESTEP_SPACINGS);
  if (o.clipSample !== undefined) {
    cfg.clipSample = c.finite(o.clipSample, 'clipSample');
    if (cfg.clipSample < 0) c.fail('clipSample', `expected a number >= 0 (0: no clamp), got ${cfg.clipSample}`);
  }
  if (o.setAlphaToOne !== undefined) cfg.setAlphaToOne = c.bool(o.setAlphaToOne, 'setAlphaToOne');
  if (cfg.betaStart > cfg.betaEnd) c.fail('betaStart', `expected betaStart <= betaEnd (${cfg.betaEnd}), got ${cfg.betaStart}`);
  return cfg;
}

/**
 * Checks a parsed JSON value and fills defaults (T = 1000, linear 1e-4..0.02, eps).
 * `undefined` gives the defaults. Throws ConfigError naming e.g. `diffusion.schedule`.
 */
export function validateDiffusionConfig(obj: unknown, path = 'diffusion'): DiffusionConfig {
  return checkDiffusionConfig(new Checker('', path), obj);
}
