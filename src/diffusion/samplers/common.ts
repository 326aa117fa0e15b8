/** What the schedulers share: x_T, the img2img start's checks, and a network output turned into (x0, eps). */
import { OptionError } from '../../core/errors';
import { Prediction } from '../../core/diffusion-config';
import { Rng } from '../../core/rng';
import { ImageInit } from './types';
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
