/**
 * Cold diffusion (Bansal et al. 2022) with the Gaussian-blur degradation of
 * `../degradations/blur.ts`. Levels are t in [0, T]: D(x0, 0) = x0, D(x0, T) the most blurred.
 * The network R(x_t, t) predicts x0 and receives t in [1, T] (it is never asked at t = 0).
 * Training pairs are (coldDegrade(x0, t, cfg), t) -> x0, built on the host.
 *
 * Sampling is deterministic (no Rng): it starts from a given x_T (e.g. a fully blurred image)
 * and uses the paper's improved sampler, Algorithm 2, by default; Algorithm 1 ('naive') is
 * x_{s-1} = D(x0_hat, s - 1). With a perfect x0 predictor both return x0 exactly.
 *
 * SDEdit (`init`) in cold terms: start at level s = round(strength T) from D(image, s), the image
 * degraded as far as training degraded it, and restore levels s..1. Strength 0 is the image (no
 * network call). Strength 1 starts from x_T, as a plain sample does: D(image, T) would still carry
 * the image's channel means, which the plain sample draws instead.
 */
import { DiffusionError } from '../../core/errors';
import { BlurConfig, ImageShape, blurDegrade } from '../degradations/blur';
import { clipX0, sampleLoop } from './loop';
import { checkInit } from './common';
import { Denoiser, ImageInit, StepInfo } from './types';

export interface ColdConfig extends BlurConfig {
  /** Image channels, height and width; the batch size follows from the array length. */
  c: number;
  h: number;
  w: number;
}

export interface ColdOptions {
  /** 'improved' (Algorithm 2, default) or 'naive' (Algorithm 1). */
  algorithm?: 'improved' | 'naive';
  /** Clamp x0_hat to [-1, 1] (default true). */
  clipX0?: boolean;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  /** Image-to-image: restore `image` from level round(strength T) instead of x_T. */
  init?: ImageInit;
}

function imageShape(len: number, cfg: ColdConfig): ImageShape {
  const per = cfg.c * cfg.h * cfg.w;
  if (!(per > 0) || len % per !== 0) {
    throw new DiffusionError(`cold: ${len} values are not a batch of ${cfg.c}x${cfg.h}x${cfg.w} images`);
  }
  return { n: len / per, c: cfg.c, h: cfg.h, w: cfg.w };
}

/** D(x0, t) for a batch: one level for all samples or one per sample (training batches). */
export function coldDegrade(x0: Float32Array, t: number | ArrayLike<number>, cfg: ColdConfig): Float32Array {
  return blurDegrade(x0, imageShape(x0.length, cfg), t, cfg);
}

/** Step from level s to s - 1, pure, given the x0 estimate at s. */
export function coldStep(x: Float32Array, x0: Float32Array, s: number, cfg: ColdConfig, algorithm: 'improved' | 'naive' = 'improved'): Float32Array {
  const shape = imageShape(x.length, cfg);
  const dPrev = blurDegrade(x0, shape, s - 1, cfg);
  // Bansal et al. Algorithm 1: x_{s-1} = D(x0_hat, s-1)
  if (algorithm === 'naive') return dPrev;
  // Bansal et al. Algorithm 2: x_{s-1} = x_s - D(x0_hat, s) + D(x0_hat, s-1)
  const dS = blurDegrade(x0, shape, s, cfg);
  const next = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) next[i] = x[i] - dS[i] + dPrev[i];
  return next;
}

/** Restores x_T to x_0 in T steps (Bansal et al. Algorithm 2 by default), or `init.image` from its level. */
export async function coldSample(denoiser: Denoiser, xT: Float32Array, cfg: ColdConfig, opts: ColdOptions = {}): Promise<Float32Array> {
  const shape = imageShape(xT.length, cfg);
  const T = cfg.timesteps;
  if (!Number.isInteger(T) || T < 1) throw new DiffusionError(`cold: timesteps must be a positive integer, got ${T}`);
  let from = T;
  let x: Float32Array = Float32Array.from(xT);
  if (opts.init) {
    checkInit(opts.init, xT.length);
    from = Math.round(opts.init.strength * T);
    if (from === 0) x = Float32Array.from(opts.init.image);
    else if (from < T) x = coldDegrade(opts.init.image, from, cfg);
  }
  const ts = Array.from({ length: from }, (_, i) => from - i);
  return sampleLoop(denoiser, x, shape.n, {
    ts,
    step(i, x, out) {
      const x0 = clipX0(out, opts.clipX0 !== false);
      return { x: coldStep(x, x0, ts[i], cfg, opts.algorithm), x0 };
    },
  }, opts);
}
