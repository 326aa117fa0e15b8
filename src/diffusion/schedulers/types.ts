/**
 * The scheduler object, as diffusers has it: made from a scheduler_config.json (`fromConfig`),
 * `setTimesteps(n)`, then per timestep `scaleModelInput` -> network -> `step`. Pure TypeScript.
 */

/** Where a stochastic step draws its N(0, I) noise: the project's Rng, or fixed arrays in a test. */
export interface NoiseSource {
  normalArray(n: number): Float32Array;
}

export interface Scheduler {
  /** The registry name (`ddim`, `euler`, ...). */
  readonly name: string;
  /** Network evaluations per entry of `timesteps` (diffusers' `order`; 1 for all here). */
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
