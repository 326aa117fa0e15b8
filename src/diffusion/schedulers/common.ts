/**
 * What every diffusers-style scheduler shares: the config read from a `scheduler_config.json`, the
 * training schedule's tables in diffusers' float32, the inference timesteps of each spacing, and
 * the piecewise-linear interpolation diffusers takes from numpy. Pure: runs in the page.
 */
import { diffusionConfigFromScheduler } from '../../core/diffusers-config';
import type { DiffusionConfig, TimestepSpacingName } from '../../core/diffusion-config';
import { OptionError } from '../../core/errors';
import { Checker, type Obj } from '../../core/schema';
import { COSINE_MAX_BETA, COSINE_S } from '../schedules';
import { makeTimesteps, roundHalfEven } from '../samplers/timesteps';

export { roundHalfEven };

/** A scheduler's config: the shared diffusion section plus the raw JSON for its own keys. */
export interface SchedulerSource {
  diffusion: DiffusionConfig;
  /** The JSON object, for the keys one scheduler reads (`use_karras_sigmas`, `skip_prk_steps`, ...). */
  json: Obj;
  /** Checks those keys, naming the file. */
  check: Checker;
}

/**
 * Reads a scheduler_config.json object. `defaults` are the class's own defaults for keys the file
 * omits (diffusers' `from_config` fills a missing key from the class's __init__, and e.g. Euler's
 * `timestep_spacing` default is `linspace` where DDIM's is `leading`).
 */
export function readSchedulerSource(json: unknown, source: string, defaults: Obj = {}): SchedulerSource {
  const check = new Checker(source, '');
  const given = check.object(json, '', undefined, 'a scheduler config object');
  const merged: Obj = { ...defaults };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && v !== null) merged[k] = v;
  return { diffusion: diffusionConfigFromScheduler(merged, source), json: merged, check };
}

/** `value` when given, else `fallback`; for reading optional keys of `json`. */
export function key<T>(src: SchedulerSource, name: string, read: (c: Checker, v: unknown, k: string) => T, fallback: T): T {
  const v = src.json[name];
  return v === undefined || v === null ? fallback : read(src.check, v, name);
}

/**
 * alphas_cumprod as diffusers computes it: betas in float32 (torch.linspace(..., dtype=float32),
 * whose CPU kernel fills the first half as start + step i and the rest as end - step (n - 1 - i)),
 * alphas = 1 - betas in float32, and torch.cumprod, which accumulates in higher precision than
 * float32 and stores float32. Measured against the fixture's alphas_cumprod.npy: 1.2e-7 relative
 * (a float32 accumulator gives 1.1e-6; float64 betas 4.8e-7).
 */
export function alphasCumprod32(cfg: DiffusionConfig): Float64Array {
  const T = cfg.timesteps;
  const f = Math.fround;
  const betas = new Float64Array(T);
  const linspace32 = (a: number, b: number): Float64Array => {
    const s = f(a), e = f(b), step = (e - s) / (T - 1);
    const out = new Float64Array(T);
    const half = Math.floor(T / 2);
    for (let i = 0; i < T; i++) out[i] = i < half ? f(s + step * i) : f(e - step * (T - 1 - i));
    return out;
  };
  if (cfg.schedule === 'linear') betas.set(linspace32(cfg.betaStart, cfg.betaEnd));
  else if (cfg.schedule === 'scaled-linear') linspace32(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd)).forEach((r, i) => { betas[i] = f(r * r); });
  else if (cfg.schedule === 'cosine') {
    // diffusers betas_for_alpha_bar (squaredcos_cap_v2): 1 - abar(t2)/abar(t1), capped at 0.999.
    const abar = (u: number) => Math.cos(((u + COSINE_S) / (1 + COSINE_S)) * Math.PI / 2) ** 2;
    for (let i = 0; i < T; i++) betas[i] = f(Math.min(1 - abar((i + 1) / T) / abar(i / T), COSINE_MAX_BETA));
  } else throw new OptionError('schedule', `${cfg.schedule} has no diffusers scheduler equivalent (expected linear|scaled-linear|cosine)`);
  const out = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) out[i] = f(prod *= f(1 - betas[i]));
  return out;
}

/**
 * The inference timesteps, high to low, as diffusers' DDIM/Euler/PNDM `set_timesteps` make them
 * (diffusers 0.27.2 scheduling_ddim.py, "leading": arange(0, n) * (T // n) + steps_offset;
 * "trailing": round(arange(T, 0, -T/n)) - 1; "linspace": linspace(0, T - 1, n), rounded where the
 * scheduler takes integer timesteps).
 */
export function spacedTimesteps(spacing: TimestepSpacingName, T: number, n: number, stepsOffset: number, round: boolean): Float64Array {
  // Integer leading and trailing grids are the samplers' own (samplers/timesteps.ts).
  if (spacing !== 'linspace') return Float64Array.from(makeTimesteps(T, n, spacing, spacing === 'leading' ? stepsOffset : 0));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = n === 1 ? 0 : ((T - 1) * (n - 1 - i)) / (n - 1);
    out[i] = round ? roundHalfEven(v) : Math.fround(v);
  }
  return out;
}

/** numpy.interp(x, arange(len(ys)), ys): linear between integer knots. */
export function interpIndex(x: number, ys: ArrayLike<number>): number {
  if (x <= 0) return ys[0];
  if (x >= ys.length - 1) return ys[ys.length - 1];
  const i = Math.floor(x);
  const w = x - i;
  return ys[i] + w * (ys[i + 1] - ys[i]);
}

/** sigma_t = sqrt((1 - abar_t) / abar_t), the variance-exploding noise level of timestep t (Karras et al. 2022, eq. 3 form). */
export function sigmasOf(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - a) / a))));
}

/**
 * Karras et al. 2022, eq. 5: sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, rho = 7.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const lo = sigmaMin ** (1 / rho), hi = sigmaMax ** (1 / rho);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (hi + (n === 1 ? 0 : i / (n - 1)) * (lo - hi)) ** rho;
  return out;
}

/**
 * The fractional training timestep of a sigma, interpolating log sigma (diffusers' `_sigma_to_t`):
 * the knot below is the last one with log sigma_knot <= log sigma.
 */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const ls = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (ls - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const w = Math.min(1, Math.max(0, (logSigmas[low] - ls) / (logSigmas[low] - logSigmas[low + 1])));
  return (1 - w) * low + w * (low + 1);
}

/** The index of `t` in `timesteps` (diffusers' `index_for_timestep`: the second match when t repeats). */
export function indexOfTimestep(timesteps: ArrayLike<number>, t: number, scheduler: string): number {
  const hits: number[] = [];
  for (let i = 0; i < timesteps.length; i++) if (timesteps[i] === t) hits.push(i);
  if (hits.length === 0) {
    throw new OptionError('t', `${t} is not one of ${scheduler}'s timesteps (call setTimesteps first, then step through scheduler.timesteps)`);
  }
  return hits.length > 1 ? hits[1] : hits[0];
}

/** Checks the step count given to setTimesteps. */
export function checkSteps(n: number, T: number): void {
  if (!Number.isInteger(n) || n < 1 || n > T) throw new OptionError('steps', `must be an integer in [1, ${T}], got ${n}`);
}

/** out[k] = a x[k] + b y[k], in float64, stored as float32. */
export function axpby(a: number, x: Float32Array, b: number, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = a * x[k] + b * y[k];
  return out;
}

