/**
 * The one sampling loop. Every scheduler of the project's models (ddpm, ddim, dpm++2m(-sde), euler,
 * heun, toy, cold, or one registered by the user) is driven the same way, as diffusers' pipelines
 * drive theirs: setTimesteps(steps), start (x_T, or an image-to-image start), then for each
 * timestep: check for cancellation, scaleModelInput -> the network on the whole batch at t ->
 * check its output -> step -> report it. Heun's n steps list 2n - 1 timesteps (one per network
 * call), so they are 2n - 1 loop steps. Guidance wraps the denoiser before it gets here
 * (guidance.ts), so every scheduler gets it the same way.
 */
import { DiffusionError } from '../../core/errors';
import { Rng } from '../../core/rng';
import { clampUnit } from '../objectives';
import type { ModelScheduler, NoiseSource, Scheduler, StartOptions } from '../schedulers/types';
import { Denoiser, SamplerOptions, SampleShape } from './types';

export function shapeSize(shape: SampleShape): number {
  for (const k of ['n', 'c', 'h', 'w'] as const) {
    const v = shape[k];
    if (!Number.isInteger(v) || v < 1) throw new DiffusionError(`sample shape: ${k} must be a positive integer, got ${v}`);
  }
  return shape.n * shape.c * shape.h * shape.w;
}

/** Cancellation as the platform reports it (fetch, streams): a DOMException named 'AbortError'. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DOMException('sampling cancelled', 'AbortError');
}

/** x0 as the sampler uses it: clamped to [-1, 1] (a copy) when `clip`, else the estimate itself. */
export function clipX0(x0: Float32Array, clip: boolean): Float32Array {
  return clip ? clampUnit(Float32Array.from(x0)) : x0;
}

/** What one run takes besides the scheduler: the step count, the seed and the start. */
export interface DenoiseOptions extends StartOptions, Pick<SamplerOptions, 'onStep' | 'signal'> {
  /** Given to setTimesteps (default: the scheduler's defaultSteps). */
  steps?: number;
  /** Seed of the one Rng that draws x_T first, then each step's noise in step order. */
  seed?: number;
}

/**
 * The loop body any scheduler is driven by, here and in a diffusers-style pipeline: for each t of
 * `timesteps`, check for cancellation, scaleModelInput -> `net` -> step (drawing from `noise`),
 * report. `net` runs the network at the scaled input (guidance and feeds are the caller's).
 */
export async function runTimesteps(
  scheduler: Scheduler, x: Float32Array, timesteps: ArrayLike<number>,
  net: (input: Float32Array, t: number) => Promise<Float32Array>, noise: NoiseSource,
  opts: { signal?: AbortSignal; report?: (i: number, t: number, x: Float32Array) => void | Promise<void> } = {},
): Promise<Float32Array> {
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    throwIfAborted(opts.signal);
    x = scheduler.step(await net(scheduler.scaleModelInput(x, t), t), t, x, noise);
    await opts.report?.(i, t, x);
  }
  return x;
}

/** Runs `scheduler` over a batch of `shape.n` samples with `denoiser`; returns the final x. */
export async function denoise(
  scheduler: ModelScheduler, denoiser: Denoiser, shape: SampleShape, opts: DenoiseOptions = {},
): Promise<Float32Array> {
  const n = shape.n;
  const size = shapeSize(shape);
  const rng = new Rng(opts.seed ?? 0);
  scheduler.setTimesteps(opts.steps ?? scheduler.defaultSteps);
  const start = scheduler.start(rng, shape, opts);
  const ts = scheduler.timesteps.subarray(start.begin);
  const net = async (input: Float32Array, t: number) => {
    const out = await denoiser(input, new Int32Array(n).fill(t));
    if (out.length !== size) throw new DiffusionError(`denoiser output: expected ${size} elements, got ${out.length}`);
    return out;
  };
  const report = opts.onStep && ((i: number, t: number, x: Float32Array) =>
    opts.onStep!({ step: i, total: ts.length, t, x, x0: scheduler.predOriginalSample ?? x }));
  return runTimesteps(scheduler, start.x, ts, net, rng, { signal: opts.signal, report });
}
