/**
 * The "toy diffusion" of the Hugging Face diffusion course, unit 1, notebook 1 ("Diffusion
 * Models from Scratch"): no schedule, the corruption is a plain mix
 *   x = (1 - a) x0 + a noise,  a in [0, 1]   (the course's `corrupt`),
 * the network predicts x0 from x, and the sampler walks a from 1 down over K steps, moving a
 * fraction 1/(K - i) of the way to the prediction at step i: small moves while the image is
 * mostly noise, bigger ones as it clears; the last step (fraction 1) lands on the prediction.
 *
 * Noise amount -> network input t: the same ONNX input `t` (int64 [N]) as the real samplers, with
 *   t = round(a * (T - 1)),  T = the model's diffusion.timesteps (TOY_T = 1000 by default),
 * so a = 1 is t = T - 1 and a = 0 is t = 0: the inverse of training's a = t / (T - 1)
 * (train/step-graph.ts). (The course's network ignores a; ours may use it.)
 *
 * Noise: 'uniform' is U[0, 1) as in the course (its data is MNIST in [0, 1]); 'normal' is
 * N(0, 1) for data in [-1, 1]. Noise order: x_K (unless initialNoise is given), nothing after.
 * x0 clipping is off by default here (the course does none), on with clipX0: true.
 *
 * SDEdit (`init`): the walk starts at the first amount a_i = 1 - i/K at or below `strength`, from
 * corrupt(image, x_K, a_i). Since step i maps (1 - a_i) x0 + a_i z to (1 - a_{i+1}) x0 + a_{i+1} z,
 * that is where the full walk would be had it started from this image. Strength 0 (a_K = 0) is the
 * image with no network call, strength 1 (a_0 = 1) is x_K itself: the plain sample.
 */
import { DiffusionKind } from '../../core/diffusion-config';
import { DiffusionError, OptionError } from '../../core/errors';
import type { ModelConfig } from '../../core/model-config';
import { Rng } from '../../core/rng';
import type { SchedulerSettings, StartOptions } from '../schedulers/types';
import { checkInit, initialSample } from './common';
import { clipX0, denoise, shapeSize } from './loop';
import { clipOf, IndexedScheduler } from './scheduler';
import { Denoiser, SampleShape, SamplerOptions } from './types';

/** The default number of integer levels the noise amount is mapped to (t in [0, T - 1]). */
export const TOY_T = 1000;

export type ToyNoise = 'uniform' | 'normal';

export interface ToyOptions extends SamplerOptions {
  /** Default 'uniform', as in the course. */
  noise?: ToyNoise;
  /** The model's T (diffusion.timesteps), which training's t = a (T - 1) used. Default TOY_T. */
  timesteps?: number;
}

/** t = round(a * (T - 1)) for a noise amount a in [0, 1]. */
export function toyAmountToT(a: number, T = TOY_T): number {
  if (!(a >= 0 && a <= 1)) throw new DiffusionError(`toy: noise amount must be in [0, 1], got ${a}`);
  if (!Number.isInteger(T) || T < 2) throw new DiffusionError(`toy: timesteps must be an integer >= 2, got ${T}`);
  return Math.round(a * (T - 1));
}

/** Draws toy noise of the given kind. */
export function toyNoise(rng: Rng, size: number, kind: ToyNoise = 'uniform'): Float32Array {
  if (kind === 'normal') return rng.normalArray(size);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform();
  return out;
}

/** The course's corrupt(x, amount): x = (1 - a) x0 + a noise, one amount per sample. */
export function toyCorrupt(x0: Float32Array, noise: Float32Array, amount: ArrayLike<number>): Float32Array {
  const n = amount.length;
  if (x0.length !== noise.length || n === 0 || x0.length % n !== 0) {
    throw new DiffusionError(`toy: cannot corrupt ${x0.length} values with ${noise.length} noise values and ${n} amounts`);
  }
  const per = x0.length / n;
  const out = new Float32Array(x0.length);
  for (let s = 0; s < n; s++) {
    const a = amount[s];
    for (let i = s * per, e = i + per; i < e; i++) out[i] = (1 - a) * x0[i] + a * noise[i];
  }
  return out;
}

/** Step i of K, pure: move x a fraction 1/(K - i) of the way to the prediction (the last step lands on it). */
export function toyStep(x: Float32Array, x0: Float32Array, i: number, K: number): Float32Array {
  const mix = 1 / (K - i);
  // the last step has mix = 1 and must land on the prediction exactly
  if (mix === 1) return Float32Array.from(x0);
  const next = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) next[k] = x[k] * (1 - mix) + x0[k] * mix;
  return next;
}

/**
 * The course's sampler as a scheduler of toy models: K steps at amounts a_i = 1 - i/K, the network
 * fed t = round(a_i (T - 1)), x = x (1 - 1/(K - i)) + pred / (K - i). No noise after x_K.
 */
export class ToyScheduler extends IndexedScheduler {
  readonly name = 'toy';
  readonly kinds: readonly DiffusionKind[] = ['toy'];
  readonly defaultSteps = 5;
  private K = 0;

  constructor(readonly trainTimesteps: number = TOY_T, private readonly clip = false, readonly noise: ToyNoise = 'uniform') {
    super();
    if (!Number.isInteger(trainTimesteps) || trainTimesteps < 2) throw new DiffusionError(`toy: timesteps must be an integer >= 2, got ${trainTimesteps}`);
  }

  /** From a toy model's config and createSampler's settings (x0 clipping off unless clipX0: true). */
  static fromConfig(config: ModelConfig, settings: SchedulerSettings = {}): ToyScheduler {
    return new ToyScheduler(config.diffusion.timesteps, clipOf(settings.clipX0) === true);
  }

  protected grid(steps: number): number[] {
    if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be a positive integer for toy, got ${steps}`);
    this.K = steps;
    return Array.from({ length: steps }, (_, i) => toyAmountToT(1 - i / steps, this.trainTimesteps));
  }

  /** The course's corrupt at the amount a = t / (T - 1) that training pairs with t (train/step-graph.ts). */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    return toyCorrupt(x0, noise, [t / (this.trainTimesteps - 1)]);
  }

  start(rng: Rng, shape: SampleShape, from: StartOptions = {}): { x: Float32Array; begin: number } {
    const size = shapeSize(shape);
    const xT = from.initialNoise === undefined ? toyNoise(rng, size, this.noise) : initialSample(rng, size, from.initialNoise);
    if (!from.init) return { x: xT, begin: this.begin(0) };
    checkInit(from.init, size);
    let i = 0;
    while (1 - i / this.K > from.init.strength) i++;
    return { x: toyCorrupt(from.init.image, xT, new Array<number>(shape.n).fill(1 - i / this.K)), begin: this.begin(i) };
  }

  protected stepAt(i: number, modelOutput: Float32Array, x: Float32Array) {
    const x0 = clipX0(modelOutput, this.clip);
    return { x: toyStep(x, x0, i, this.K), x0 };
  }
}

/** The course's sampler over `shape.n` samples (the scheduler run by the one loop). */
export async function toySample(denoiser: Denoiser, shape: SampleShape, opts: ToyOptions = {}): Promise<Float32Array> {
  return denoise(new ToyScheduler(opts.timesteps, opts.clipX0 === true, opts.noise), denoiser, shape, opts);
}
