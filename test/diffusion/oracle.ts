/** Test helpers: a known x0 and a denoiser that knows it. */
import { Prediction } from '../../src/core/diffusion-config';
import { Rng } from '../../src/core/rng';
import { NoiseSchedule } from '../../src/diffusion/schedules';
import { Denoiser } from '../../src/diffusion/samplers/types';

/** A random image batch with values in [-1, 1]. */
export function randomX0(size: number, seed = 7): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = 2 * rng.uniform() - 1;
  return out;
}

/**
 * The perfect network: at (x_t, t) the noise is exactly eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar);
 * returns it, x0, or v = sqrt(abar) eps - sqrt(1 - abar) x0, computed here in float64.
 */
export function oracle(x0: Float32Array, schedule: NoiseSchedule, prediction: Prediction): Denoiser {
  return async (x, t) => {
    const per = x.length / t.length;
    const out = new Float32Array(x.length);
    for (let b = 0; b < t.length; b++) {
      const a = schedule.alphasCumprod[t[b]];
      for (let i = b * per; i < (b + 1) * per; i++) {
        const eps = (x[i] - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a);
        out[i] = prediction === 'eps' ? eps : prediction === 'x0' ? x0[i] : Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0[i];
      }
    }
    return out;
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
