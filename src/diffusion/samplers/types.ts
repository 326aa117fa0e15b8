/**
 * Types shared by every sampler. A sampler is pure TypeScript over Float32Arrays; the network is
 * an async callback, so the same code drives onnxruntime-node and onnxruntime-web.
 */

/**
 * One network evaluation. `x` is an NCHW batch of n samples flattened; `t` holds n integer
 * timesteps in [0, T-1]. Returns the raw model output (same length as x) in the model's
 * prediction type (eps, x0 or v).
 */
export type Denoiser = (x: Float32Array, t: Int32Array) => Promise<Float32Array>;

export interface SampleShape {
  n: number;
  c: number;
  h: number;
  w: number;
}

/** What `onStep` receives after each step. */
export interface StepInfo {
  /** 0-based index of the step just taken. */
  step: number;
  /** Number of steps in this run. */
  total: number;
  /** The timestep the network was evaluated at. */
  t: number;
  /** The sample after this step. */
  x: Float32Array;
  /** The current prediction of the clean image (clipped when clipX0). */
  x0: Float32Array;
}

export interface SamplerOptions {
  /** Number of network evaluations (DDPM: default and at most T). */
  steps?: number;
  /** Seed of the one Rng that draws x_T first, then each step's noise in step order. */
  seed?: number;
  /** Clamp the predicted x0 to [-1, 1] before using it (default true). */
  clipX0?: boolean;
  /** Added to every 'leading' timestep (diffusers `steps_offset`; SD 1.x: 1, giving 751, 501, 251, 1 for 4 steps). */
  stepsOffset?: number;
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Checked before every network call; when aborted, rejects with a DOMException named 'AbortError'. */
  signal?: AbortSignal;
  /** x_T to start from instead of drawing it (then no normals are drawn for it). */
  initialNoise?: Float32Array;
  /** Image-to-image (SDEdit): start from this image, forward-noised, instead of pure noise. */
  init?: ImageInit;
}

/**
 * SDEdit (Meng et al. 2022): the input image noised by q(x_t | x_0) to t_start = round(strength T),
 * then denoised by the sampler's own steps below t_start. Strength 0 returns the image; strength
 * 1 starts from pure noise, exactly as a plain sample.
 */
export interface ImageInit {
  /** n images NCHW in [-1, 1], the shape being sampled. */
  image: Float32Array;
  /** In [0, 1]: how much of the diffusion is run (the share of the T timesteps). */
  strength: number;
}

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type DdpmVariance = 'beta' | 'posterior';

export interface DdpmOptions extends SamplerOptions {
  /** sigma_t^2 = beta_t ('beta') or beta-tilde_t ('posterior', default); Ho et al. section 3.2. */
  variance?: DdpmVariance;
  /** Used only when steps < T (default 'leading'). */
  spacing?: TimestepSpacing;
}

export interface DdimOptions extends SamplerOptions {
  /** 0 = deterministic DDIM, 1 = DDPM-like ancestral noise (Song et al. eq. 16). Default 0. */
  eta?: number;
  /** abar stepped to after the last timestep: 1 (default) or abar_0 (false; diffusers `set_alpha_to_one`, SD 1.x). */
  setAlphaToOne?: boolean;
  /** Default 'leading'. */
  spacing?: TimestepSpacing;
}

export interface DpmSolverOptions extends SamplerOptions {
  /** Default 'trailing' (close to diffusers' DPMSolverMultistep linspace-of-steps+1 grid). */
  spacing?: TimestepSpacing;
}
