/**
 * The scheduler object, as diffusers has it: made from a scheduler_config.json (`fromConfig`),
 * `setTimesteps(n)`, then per timestep `scaleModelInput` -> network -> `step`. Pure TypeScript.
 */
import type { DiffusionKind } from '../../core/diffusion-config';
import type { ModelConfig } from '../../core/model-config';
import type { Rng } from '../../core/rng';
import type { DdpmVariance, ImageInit, SampleShape, TimestepSpacing } from '../samplers/types';

/** Where a stochastic step draws its N(0, I) noise: the project's Rng, or fixed arrays in a test. */
export interface NoiseSource {
  normalArray(n: number): Float32Array;
}

export interface Scheduler {
  /** The registry name (`ddim`, `euler`, ...). */
  readonly name: string;
  /** Network evaluations per step of the solver (diffusers' `order`: 2 for Heun, whose `timesteps` list each call). */
  readonly order: number;
  /** Number of training timesteps T. */
  readonly trainTimesteps: number;
  /** The timesteps to visit, high to low, set by setTimesteps (fractional for Karras sigmas in Euler). */
  readonly timesteps: Float64Array;
  /** Standard deviation of the starting latents: x_T = initNoiseSigma * N(0, I). */
  readonly initNoiseSigma: number;
  /** Chooses the inference timesteps and resets the multistep state. */
  setTimesteps(steps: number): void;
  /** The network's input at t (Euler-type schedulers divide by sqrt(sigma^2 + 1)). */
  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  /** One reverse step: the sample at the next timestep. `noise` is needed by ancestral schedulers. */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
  /** The forward process at t (img2img's starting point): x_t from x0 and noise. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array;
}

/** Makes a scheduler from a scheduler_config.json object; `source` names the file in errors. */
export type SchedulerFactory = (config: unknown, source: string) => Scheduler;

/**
 * The settings a scheduler of the project's own models takes (createSampler's options of the same
 * names). Each scheduler declares which it takes (SchedulerEntry.options) and checks their values.
 */
export interface SchedulerSettings {
  /** Inference steps: given to setTimesteps (default: the scheduler's defaultSteps). */
  steps?: number;
  /** DDIM's eta of Song et al. eq. 16, in [0, 1]. */
  eta?: number;
  /** Which training timesteps a run of fewer steps visits. */
  spacing?: TimestepSpacing;
  /** DDPM's sigma_t^2: beta_t or the posterior's beta-tilde_t. */
  variance?: DdpmVariance;
  /** Clamp the x0 estimate to [-1, 1] (each scheduler has its own default). */
  clipX0?: boolean;
}

/** Where a run starts: the image-to-image start (SDEdit) or x_T given by the caller. */
export interface StartOptions {
  /** x_T to start from instead of drawing it (then no noise is drawn for it). */
  initialNoise?: Float32Array;
  /** Image-to-image (SDEdit, Meng et al. 2022): start from this image, forward-noised. */
  init?: ImageInit;
}

/**
 * A scheduler of the project's own models (gaussian, toy, cold-blur), driven by the one loop
 * (samplers/loop.ts `denoise`): setTimesteps(steps), then `start`, then for each of
 * `timesteps` from `start`'s index: scaleModelInput -> network -> step. Stateful like diffusers'
 * schedulers (a multistep history, a step index): setTimesteps resets it.
 */
export interface ModelScheduler extends Scheduler {
  /** The model kinds it samples. */
  readonly kinds: readonly DiffusionKind[];
  /** setTimesteps' count when the caller gives none. */
  readonly defaultSteps: number;
  /** The x0 estimate of the last step (diffusers' pred_original_sample), for onStep. */
  readonly predOriginalSample: Float32Array | undefined;
  /**
   * x at the first visited timestep, drawing x_T from `rng` first (unless given), and the index
   * of that timestep in `timesteps` (0 unless an image-to-image start skips the noisier ones).
   */
  start(rng: Rng, shape: SampleShape, from?: StartOptions): { x: Float32Array; begin: number };
}

/** Makes a project scheduler from a model's config and the caller's settings (already checked against `options`). */
export type ModelSchedulerFactory = (config: ModelConfig, settings: SchedulerSettings) => ModelScheduler;

/**
 * One registry entry. A name can have both makers: `ddim` is the project's DDIM for a model's own
 * config and diffusers' DDIMScheduler for a Stable Diffusion folder's scheduler_config.json.
 */
export interface SchedulerEntry {
  /** For the project's models (createSampler); absent: it does not apply to them. */
  fromModel?: ModelSchedulerFactory;
  /** For a diffusers scheduler_config.json (Stable Diffusion folders); absent: it does not apply to them. */
  fromConfig?: SchedulerFactory;
  /** The model kinds fromModel applies to (default: gaussian). */
  kinds?: readonly DiffusionKind[];
  /** The settings fromModel takes (default: all); another given one is refused by name. */
  options?: readonly (keyof SchedulerSettings)[];
  /** Why a setting does not apply, where a reason says more than the list of those that take it. */
  refuses?: Partial<Record<keyof SchedulerSettings, string>>;
}
