/**
 * The `diffusion` section of a recipe: how many timesteps, which beta schedule, and what the
 * network predicts. Validated with one-line errors that name the key's path.
 */
import { ConfigError } from '../errors';

export type ScheduleKind = 'linear' | 'cosine' | 'sigmoid' | 'scaled-linear';
export type Prediction = 'eps' | 'x0' | 'v';

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
}

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['linear', 'cosine', 'sigmoid', 'scaled-linear'];
export const PREDICTIONS: readonly Prediction[] = ['eps', 'x0', 'v'];

export const DEFAULT_DIFFUSION_CONFIG: Readonly<DiffusionConfig> = Object.freeze({
  timesteps: 1000,
  schedule: 'linear',
  betaStart: 1e-4,
  betaEnd: 0.02,
  prediction: 'eps',
});

const KEYS: readonly (keyof DiffusionConfig)[] = ['timesteps', 'schedule', 'betaStart', 'betaEnd', 'prediction'];

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(path, `expected one of ${allowed.join('|')}, got ${describe(v)}`);
}

function finiteNumber(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ConfigError(path, `expected a finite number, got ${describe(v)}`);
  }
  return v;
}

/**
 * Checks a parsed JSON value and fills defaults (T = 1000, linear 1e-4..0.02, eps).
 * `undefined` gives the defaults. Throws ConfigError naming e.g. `diffusion.schedule`.
 */
export function validateDiffusionConfig(obj: unknown, path = 'diffusion'): DiffusionConfig {
  if (obj === undefined) return { ...DEFAULT_DIFFUSION_CONFIG };
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ConfigError(path, `expected an object, got ${describe(obj)}`);
  }
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      throw new ConfigError(`${path}.${k}`, `unknown key (expected one of ${KEYS.join(', ')})`);
    }
  }
  const cfg: DiffusionConfig = { ...DEFAULT_DIFFUSION_CONFIG };
  if (o.timesteps !== undefined) {
    const t = o.timesteps;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 2) {
      throw new ConfigError(`${path}.timesteps`, `expected an integer >= 2, got ${describe(t)}`);
    }
    cfg.timesteps = t;
  }
  if (o.schedule !== undefined) cfg.schedule = oneOf(`${path}.schedule`, o.schedule, SCHEDULE_KINDS);
  if (o.prediction !== undefined) cfg.prediction = oneOf(`${path}.prediction`, o.prediction, PREDICTIONS);
  for (const k of ['betaStart', 'betaEnd'] as const) {
    if (o[k] === undefined) continue;
    const b = finiteNumber(`${path}.${k}`, o[k]);
    if (!(b > 0 && b < 1)) throw new ConfigError(`${path}.${k}`, `expected a number in (0, 1), got ${b}`);
    cfg[k] = b;
  }
  if (cfg.betaStart > cfg.betaEnd) {
    throw new ConfigError(`${path}.betaStart`, `expected betaStart <= betaEnd (${cfg.betaEnd}), got ${cfg.betaStart}`);
  }
  return cfg;
}
