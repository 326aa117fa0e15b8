/** Plumbing the samplers share: checks, x_T, one network call turned into x0. */
import { DiffusionError } from '../../core/errors';
import { Prediction } from '../../core/diffusion-config';
import { clampUnit, predToEps, predToX0, x0ToEps } from '../objectives';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { Denoiser, SampleShape, SamplerOptions } from './types';

export function shapeSize(shape: SampleShape): number {
  for (const k of ['n', 'c', 'h', 'w'] as const) {
    const v = shape[k];
    if (!Number.isInteger(v) || v < 1) throw new DiffusionError(`sample shape: ${k} must be a positive integer, got ${v}`);
  }
  return shape.n * shape.c * shape.h * shape.w;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DiffusionError('sampling cancelled');
}

/** x_T: the caller's initialNoise (copied), else `size` normals, the first draws of the Rng. */
export function initialSample(rng: Rng, size: number, initialNoise: Float32Array | undefined): Float32Array {
  if (initialNoise === undefined) return rng.normalArray(size);
  if (initialNoise.length !== size) {
    throw new DiffusionError(`initialNoise: expected ${size} elements, got ${initialNoise.length}`);
  }
  return Float32Array.from(initialNoise);
}

export function fillInt32(n: number, v: number): Int32Array {
  return new Int32Array(n).fill(v);
}

export interface Denoised {
  /** The x0 estimate, clamped to [-1, 1] unless clipX0 is false. */
  x0: Float32Array;
  /** The eps consistent with x0 and x_t (recomputed from the clamped x0, as diffusers does). */
  eps: Float32Array;
}

/** Calls the network at timestep t for the whole batch and converts its output to (x0, eps). */
export async function denoise(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, x: Float32Array, n: number, t: number,
  opts: SamplerOptions,
): Promise<Denoised> {
  throwIfAborted(opts.signal);
  const out = await denoiser(x, fillInt32(n, t));
  if (out.length !== x.length) {
    throw new DiffusionError(`denoiser output: expected ${x.length} elements, got ${out.length}`);
  }
  // Every sample is at the same t, so one abar covers the batch.
  const abar = [schedule.alphasCumprod[t]];
  const x0 = predToX0(out, prediction, x, abar);
  if (opts.clipX0 === false) return { x0, eps: predToEps(out, prediction, x, abar) };
  clampUnit(x0);
  return { x0, eps: x0ToEps(x0, x, abar) };
}

/** As `denoise`, when only x0 is needed. */
export async function denoiseToX0(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, x: Float32Array, n: number, t: number,
  opts: SamplerOptions,
): Promise<Float32Array> {
  return (await denoise(denoiser, schedule, prediction, x, n, t, opts)).x0;
}
