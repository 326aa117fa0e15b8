/**
 * Resampling of NCHW batches for cascaded diffusion (Ho et al. 2022): the super-resolution stage
 * is conditioned on the low-resolution image upsampled to its own size, and trained on
 * downsampled data with Gaussian noise-conditioning augmentation. Pure; no Node imports.
 */
import { DiffusionError } from '../core/errors';
import { Rng } from '../core/rng';
import { NoiseSchedule } from './schedules';

/** Area (box) downsampling when `from` is a multiple of `to`, else nearest. */
export function downsample(x: Float32Array, n: number, c: number, from: number, to: number): Float32Array {
  if (to > from) throw new DiffusionError(`downsample: ${to} is larger than ${from}`);
  const out = new Float32Array(n * c * to * to);
  const k = from / to;
  const box = Number.isInteger(k);
  for (let p = 0; p < n * c; p++) {
    const src = p * from * from;
    const dst = p * to * to;
    for (let y = 0; y < to; y++) {
      for (let xx = 0; xx < to; xx++) {
        if (box) {
          let s = 0;
          for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) s += x[src + (y * k + dy) * from + xx * k + dx];
          out[dst + y * to + xx] = s / (k * k);
        } else {
          out[dst + y * to + xx] = x[src + Math.floor((y * from) / to) * from + Math.floor((xx * from) / to)];
        }
      }
    }
  }
  return out;
}

/** Nearest-neighbour upsampling from `from` to `to` pixels per side. */
export function upsampleNearest(x: Float32Array, n: number, c: number, from: number, to: number): Float32Array {
  const out = new Float32Array(n * c * to * to);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < to; y++) {
      const sy = Math.floor((y * from) / to);
      for (let xx = 0; xx < to; xx++) out[p * to * to + y * to + xx] = x[p * from * from + sy * from + Math.floor((xx * from) / to)];
    }
  }
  return out;
}

/**
 * Noise-conditioning augmentation: cond_s = sqrt(abar_s) cond + sqrt(1 - abar_s) eps per sample,
 * with level s = 0 meaning no noise (Ho et al. 2022, section 4.2).
 */
export function noiseAugment(cond: Float32Array, levels: ArrayLike<number>, schedule: NoiseSchedule, rng: Rng): Float32Array {
  const n = levels.length;
  const per = cond.length / n;
  const out = new Float32Array(cond.length);
  for (let i = 0; i < n; i++) {
    const s = levels[i];
    const a = s > 0 ? schedule.alphasCumprod[s] : 1;
    const sa = Math.sqrt(a);
    const sn = Math.sqrt(1 - a);
    for (let j = i * per; j < (i + 1) * per; j++) out[j] = s > 0 ? sa * cond[j] + sn * rng.normal() : cond[j];
  }
  return out;
}
