/**
 * Noise schedules and the per-timestep tables every sampler and the training loss read.
 * Index i of every table is timestep t = i in [0, T-1] (diffusers' convention: the paper's
 * t = 1..T shifted down by one), all in float64.
 */
import { DiffusionError } from '../core/errors';
import { DiffusionConfig, ScheduleKind, validateDiffusionConfig } from '../core/diffusion-config';

export interface NoiseSchedule {
  config: DiffusionConfig;
  /** T, the number of training timesteps. */
  timesteps: number;
  betas: Float64Array;
  alphas: Float64Array;
  /** abar_t = prod_{s<=t} alpha_s (Ho et al. 2020, eq. 4). */
  alphasCumprod: Float64Array;
  /** abar_{t-1}, with abar_{-1} = 1. */
  alphasCumprodPrev: Float64Array;
  sqrtAlphasCumprod: Float64Array;
  sqrtOneMinusAlphasCumprod: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  /** beta-tilde_t (Ho et al. eq. 7); 0 at t = 0. */
  posteriorVariance: Float64Array;
  /** log beta-tilde_t with the t = 0 entry replaced by t = 1's (it is log 0 otherwise). */
  posteriorLogVarianceClipped: Float64Array;
  /** Coefficient of x0 in mu-tilde_t (Ho et al. eq. 7). */
  posteriorMeanCoef1: Float64Array;
  /** Coefficient of x_t in mu-tilde_t (Ho et al. eq. 7). */
  posteriorMeanCoef2: Float64Array;
  /** SNR(t) = abar_t / (1 - abar_t) (Kingma et al. 2021). */
  snr: Float64Array;
}


/** numpy.linspace(start, end, n), endpoint included. */
export function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  out[n - 1] = end;
  return out;
}

/** Nichol & Dhariwal 2021 eq. 17: f(t) = cos(((t/T) + s)/(1 + s) * pi/2)^2, with u = t/T. */
function cosineF(u: number, s: number): number {
  return Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2;
}

/** The cosine schedule's offset s (Nichol & Dhariwal 2021, section 3.2). */
export const COSINE_S = 0.008;
/** Betas of the cosine schedule are clipped here so that the last step is not singular. */
export const COSINE_MAX_BETA = 0.999;

/** beta_t for t = 0..T-1 of the given schedule kind. */
export function betaSchedule(kind: ScheduleKind, T: number, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  if (!Number.isInteger(T) || T < 2) throw new DiffusionError(`schedule: timesteps must be an integer >= 2, got ${T}`);
  switch (kind) {
    case 'linear':
      return linspace(betaStart, betaEnd, T);
    case 'scaled-linear': {
      // Stable Diffusion's schedule: linspace(sqrt(start), sqrt(end))^2.
      const r = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
      return r.map((x) => x * x);
    }
    case 'sigmoid': {
      // GeoDiff / diffusers: sigmoid(linspace(-6, 6, T)) * (end - start) + start.
      const z = linspace(-6, 6, T);
      return z.map((x) => (1 / (1 + Math.exp(-x))) * (betaEnd - betaStart) + betaStart);
    }
    case 'cosine': {
      // Nichol & Dhariwal 2021 eq. 17: abar(t) = f(t)/f(0); beta_t = 1 - abar(t)/abar(t-1), clipped.
      const out = new Float64Array(T);
      for (let i = 0; i < T; i++) {
        const b = 1 - cosineF((i + 1) / T, COSINE_S) / cosineF(i / T, COSINE_S);
        out[i] = Math.min(b, COSINE_MAX_BETA);
      }
      return out;
    }
    default: {
      const never: never = kind;
      throw new DiffusionError(`schedule: unknown kind ${String(never)}`);
    }
  }
}

/** Builds every table from a (validated or partial) diffusion config. */
export function makeSchedule(cfg: Partial<DiffusionConfig> = {}): NoiseSchedule {
  const config = validateDiffusionConfig(cfg);
  const T = config.timesteps;
  const betas = betaSchedule(config.schedule, T, config.betaStart, config.betaEnd);
  const t = () => new Float64Array(T);
  const alphas = t(), alphasCumprod = t(), alphasCumprodPrev = t();
  const sqrtAlphasCumprod = t(), sqrtOneMinusAlphasCumprod = t();
  const sqrtRecipAlphasCumprod = t(), sqrtRecipm1AlphasCumprod = t();
  const posteriorVariance = t(), posteriorLogVarianceClipped = t();
  const posteriorMeanCoef1 = t(), posteriorMeanCoef2 = t(), snr = t();
  let prod = 1;
  for (let i = 0; i < T; i++) {
    const beta = betas[i];
    if (!(beta > 0 && beta < 1)) throw new DiffusionError(`schedule: beta[${i}] = ${beta} is outside (0, 1)`);
    alphas[i] = 1 - beta;
    alphasCumprodPrev[i] = prod;
    prod *= alphas[i]; // Ho et al. eq. 4: abar_t = prod_{s=1}^{t} alpha_s
    alphasCumprod[i] = prod;
    const ab = prod, abPrev = alphasCumprodPrev[i];
    sqrtAlphasCumprod[i] = Math.sqrt(ab);
    sqrtOneMinusAlphasCumprod[i] = Math.sqrt(1 - ab);
    sqrtRecipAlphasCumprod[i] = Math.sqrt(1 / ab);
    sqrtRecipm1AlphasCumprod[i] = Math.sqrt(1 / ab - 1);
    // Ho et al. eq. 7: beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t
    posteriorVariance[i] = ((1 - abPrev) / (1 - ab)) * beta;
    // Ho et al. eq. 7: mu-tilde_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    posteriorMeanCoef1[i] = (Math.sqrt(abPrev) * beta) / (1 - ab);
    posteriorMeanCoef2[i] = ((1 - abPrev) * Math.sqrt(alphas[i])) / (1 - ab);
    snr[i] = ab / (1 - ab);
  }
  for (let i = 0; i < T; i++) {
    posteriorLogVarianceClipped[i] = Math.log(i === 0 ? posteriorVariance[1] : posteriorVariance[i]);
  }
  return {
    config, timesteps: T, betas, alphas, alphasCumprod, alphasCumprodPrev, sqrtAlphasCumprod,
    sqrtOneMinusAlphasCumprod, sqrtRecipAlphasCumprod, sqrtRecipm1AlphasCumprod, posteriorVariance,
    posteriorLogVarianceClipped, posteriorMeanCoef1, posteriorMeanCoef2, snr,
  };
}

/** Library API: `schedules.make(cfg)`, `schedules.betas(kind, T, start, end)`. */
export const schedules = { make: makeSchedule, betas: betaSchedule, linspace } as const;
