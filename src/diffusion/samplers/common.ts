/** What the Gaussian samplers (ddpm, ddim, dpm++2m, euler, heun) share: x_T, and a network output turned into (x0, eps). */
import { OptionError } from '../../core/errors';
import { Prediction } from '../../core/diffusion-config';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { ImageInit, SamplerOptions } from './types';
import { clampUnit, predToEps, predToX0, x0ToEps } from '../objectives';

export { shapeSize, throwIfAborted } from './loop';

/** x_T: the caller's initialNoise (copied), else `size` normals, the first draws of the Rng. */
export function initialSample(rng: Rng, size: number, initialNoise: Float32Array | undefined): Float32Array {
  if (initialNoise === undefined) return rng.normalArray(size);
  if (initialNoise.length !== size) {
    throw new OptionError('initialNoise', `must have ${size} elements, got ${initialNoise.length}`);
  }
  return Float32Array.from(initialNoise);
}

/** An SDEdit start as every sampler (gaussian, toy, cold) takes it: strength in [0, 1], `size` values. */
export function checkInit(init: ImageInit, size: number): void {
  if (!(init.strength >= 0 && init.strength <= 1)) throw new OptionError('strength', `must be in [0, 1], got ${init.strength}`);
  if (init.image.length !== size) throw new OptionError('image', `must have ${size} values, got ${init.image.length}`);
}

/**
 * Where a sampler starts: its visited timesteps and x at the first of them. Without `init`, all
 * of `ts` from x_T (initialSample). With it (SDEdit, Meng et al. 2022 sec. 3), the timesteps
 * below t_start = round(strength T), from the image noised to the first of them.
 */
export function startingPoint(
  ts: Int32Array, schedule: Schedule, rng: Rng, size: number, opts: Pick<SamplerOptions, 'initialNoise' | 'init'>,
): { ts: Int32Array; x: Float32Array } {
  const z = initialSample(rng, size, opts.initialNoise);
  const init = opts.init;
  if (init === undefined) return { ts, x: z };
  checkInit(init, size);
  const tStart = Math.round(init.strength * schedule.timesteps);
  // Strength 1: the prior N(0, I) itself, as every plain sample starts (abar_T is ~0, not 0).
  if (tStart >= schedule.timesteps) return { ts, x: z };
  const kept = ts.filter((t) => t < tStart);
  if (kept.length === 0) return { ts: kept, x: Float32Array.from(init.image) };
  // Ho et al. eq. 4, q(x_t | x_0): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z, at the first kept t
  const abar = schedule.alphasCumprod[kept[0]];
  const a = Math.sqrt(abar);
  const s = Math.sqrt(1 - abar);
  const x = new Float32Array(size);
  for (let k = 0; k < size; k++) x[k] = a * init.image[k] + s * z[k];
  return { ts: kept, x };
}

export interface Denoised {
  /** The x0 estimate, clamped to [-1, 1] unless clipX0 is false. */
  x0: Float32Array;
  /** The eps consistent with x0 and x_t (recomputed from the clamped x0, as diffusers does). */
  eps: Float32Array;
}

/** A raw network output at x_t (every sample at the same abar_t) as (x0, eps), x0 clipped unless clip is false. */
export function denoised(out: Float32Array, prediction: Prediction, x: Float32Array, abarT: number, clip: boolean): Denoised {
  const abar = [abarT];
  const x0 = predToX0(out, prediction, x, abar);
  if (!clip) return { x0, eps: predToEps(out, prediction, x, abar) };
  clampUnit(x0);
  return { x0, eps: x0ToEps(x0, x, abar) };
}
