/**
 * The one sampling loop. Every sampler (ddpm, ddim, dpm++2m, euler, heun, toy, cold) is a list of
 * timesteps, one per network call, and a pure `step`; this loop walks them (heun's n steps are
 * 2n - 1 calls, so 2n - 1 loop steps): check for cancellation, call the network on the whole batch
 * at t, check its output, take the step, report it. Guidance wraps the denoiser before it gets
 * here (guidance.ts), so every sampler gets it the same way.
 */
import { DiffusionError } from '../../core/errors';
import { clampUnit } from '../objectives';
import { Denoiser, SamplerOptions, SampleShape, StepInfo } from './types';

/** What the loop needs of a sampler. */
export interface SamplerPlan {
  /** The network's timestep at each step, in visiting order. */
  ts: ArrayLike<number>;
  /** Step i: x at ts[i] and the network's raw output there -> the next x and the x0 estimate. */
  step(i: number, x: Float32Array, out: Float32Array): { x: Float32Array; x0: Float32Array };
}

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

/** Runs `plan` from x_T over n samples; returns the final x. */
export async function sampleLoop(
  denoiser: Denoiser, xT: Float32Array, n: number, plan: SamplerPlan,
  opts: Pick<SamplerOptions, 'onStep' | 'signal'> = {},
): Promise<Float32Array> {
  let x = xT;
  const total = plan.ts.length;
  for (let i = 0; i < total; i++) {
    const t = plan.ts[i];
    throwIfAborted(opts.signal);
    const out = await denoiser(x, new Int32Array(n).fill(t));
    if (out.length !== x.length) throw new DiffusionError(`denoiser output: expected ${x.length} elements, got ${out.length}`);
    const r = plan.step(i, x, out);
    x = r.x;
    const info: StepInfo = { step: i, total, t, x, x0: r.x0 };
    await opts.onStep?.(info);
  }
  return x;
}
