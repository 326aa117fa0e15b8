/**
 * What the schedulers of the project's own models share (schedulers/types.ts `ModelScheduler`):
 * a step index advanced by `step` (diffusers' `_step_index`), the x0 estimate of the last step,
 * and the checks of the settings they take. Each setting's value is checked here, once, when a
 * scheduler is made; which scheduler takes which setting is the registry's (schedulers/index.ts).
 */
import { DiffusionKind, Prediction, TIMESTEP_SPACINGS } from '../../core/diffusion-config';
import { ConfigError, OptionError } from '../../core/errors';
import type { ModelConfig } from '../../core/model-config';
import type { Rng } from '../../core/rng';
import { qSample } from '../objectives';
import { makeSchedule, NoiseSchedule } from '../schedules';
import type { ModelScheduler, NoiseSource, SchedulerSettings, StartOptions } from '../schedulers/types';
import { checkInit, initialSample } from './common';
import { shapeSize } from './loop';
import type { DdpmVariance, SampleShape, TimestepSpacing } from './types';

/** One step's result: the next sample and the x0 estimate it came from. */
export interface StepResult {
  x: Float32Array;
  x0: Float32Array;
}

/** The step index, the visited timesteps and the last x0 estimate; subclasses give the grid and the update. */
export abstract class IndexedScheduler implements ModelScheduler {
  abstract readonly name: string;
  abstract readonly kinds: readonly DiffusionKind[];
  abstract readonly defaultSteps: number;
  abstract readonly trainTimesteps: number;
  readonly order: number = 1;
  readonly initNoiseSigma: number = 1;
  timesteps: Float64Array = new Float64Array(0);
  predOriginalSample: Float32Array | undefined;
  /** The index in `timesteps` of the next step. */
  protected index = 0;

  /** The visited timesteps for `steps` (checked), high to low; resets any multistep state. */
  protected abstract grid(steps: number): ArrayLike<number>;
  /** Step `i` of `timesteps`: x there and the network's raw output -> the next x and the x0 estimate. */
  protected abstract stepAt(i: number, modelOutput: Float32Array, x: Float32Array, noise: NoiseSource | undefined): StepResult;
  abstract start(rng: Rng, shape: SampleShape, from?: StartOptions): { x: Float32Array; begin: number };
  abstract addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array;

  setTimesteps(steps: number): void {
    this.timesteps = Float64Array.from(this.grid(steps));
    this.index = 0;
    this.predOriginalSample = undefined;
  }

  /** The project's models take x_t as it is (the Karras schedulers carry x in the model's own scale). */
  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    const i = this.index;
    if (i >= this.timesteps.length) throw new OptionError('t', `${this.name}: no steps left (call setTimesteps, then start)`);
    if (t !== this.timesteps[i]) throw new OptionError('t', `${this.name}: expected timestep ${this.timesteps[i]} at step ${i}, got ${t}`);
    const r = this.stepAt(i, modelOutput, sample, noise);
    this.index = i + 1;
    this.predOriginalSample = r.x0;
    return r.x;
  }

  /** Starts the step index at `begin` (diffusers' set_begin_index), for `start`. */
  protected begin(begin: number): number {
    this.index = begin;
    this.predOriginalSample = undefined;
    return begin;
  }
}

/**
 * The gaussian (VP) schedulers that visit integer training timesteps: ddpm, ddim, dpm++2m(-sde).
 * x_T ~ N(0, I); the img2img start is q(x_t | x_0) (`addNoise`, objectives.ts qSample).
 */
export abstract class VpScheduler extends IndexedScheduler {
  readonly kinds: readonly DiffusionKind[] = ['gaussian'];
  readonly trainTimesteps: number;
  protected ts: Int32Array = new Int32Array(0);

  constructor(readonly schedule: NoiseSchedule, readonly prediction: Prediction, readonly spacing: TimestepSpacing,
    protected readonly clip: boolean, protected readonly stepsOffset = 0) {
    super();
    this.trainTimesteps = schedule.timesteps;
  }

  protected abstract spaced(steps: number): Int32Array;

  protected grid(steps: number): Int32Array {
    checkSteps(this.name, steps, this.trainTimesteps);
    this.ts = this.spaced(steps);
    return this.ts;
  }

  /** Ho et al. eq. 4, q(x_t | x_0): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise. */
  addNoise(x0: Float32Array, noise: Float32Array, t: number): Float32Array {
    const abar = this.schedule.alphasCumprod[t];
    if (abar === undefined || !Number.isInteger(t)) throw new OptionError('t', `must be an integer timestep in [0, ${this.trainTimesteps - 1}], got ${t}`);
    return qSample(x0, noise, [abar]);
  }

  /**
   * Without `init`, all timesteps from x_T. With it (SDEdit, Meng et al. 2022 sec. 3), the
   * timesteps below t_start = round(strength T), from the image noised to the first of them.
   */
  start(rng: Rng, shape: SampleShape, from: StartOptions = {}): { x: Float32Array; begin: number } {
    const size = shapeSize(shape);
    const z = initialSample(rng, size, from.initialNoise);
    const init = from.init;
    if (init === undefined) return { x: z, begin: this.begin(0) };
    checkInit(init, size);
    const T = this.trainTimesteps;
    const tStart = Math.round(init.strength * T);
    // Strength 1: the prior N(0, I) itself, as every plain sample starts (abar_T is ~0, not 0).
    if (tStart >= T) return { x: z, begin: this.begin(0) };
    let begin = 0;
    while (begin < this.ts.length && this.ts[begin] >= tStart) begin++;
    if (begin === this.ts.length) return { x: Float32Array.from(init.image), begin: this.begin(begin) };
    return { x: this.addNoise(init.image, z, this.ts[begin]), begin: this.begin(begin) };
  }

  /** The timestep stepped to after step i: the next visited one, or -1 (the clean image) after the last. */
  protected prevOf(i: number): number {
    return i + 1 < this.ts.length ? this.ts[i + 1] : -1;
  }
}

/** The gaussian model's schedule, prediction and the settings its diffusers config implies. */
export interface VpSetup {
  schedule: NoiseSchedule;
  prediction: Prediction;
  /** The caller's spacing, else the config's (timestepSpacing), else undefined (the scheduler's default). */
  spacing?: TimestepSpacing;
  /** The caller's clipX0, else the config's clipSample > 0, else true. */
  clip: boolean;
  stepsOffset: number;
  setAlphaToOne?: boolean;
}

/**
 * A gaussian model's config and the caller's settings as a scheduler's arguments. A diffusers
 * scheduler_config.json (core/diffusers-config.ts) gives defaults: its spacing for the schedulers
 * that take one, its clip_sample (the schedulers clamp to [-1, 1] only).
 */
export function vpSetup(config: ModelConfig, s: SchedulerSettings, takesSpacing = true): VpSetup {
  const d = config.diffusion;
  if (d.clipSample !== undefined && d.clipSample !== 0 && d.clipSample !== 1 && s.clipX0 !== false) {
    throw new ConfigError('diffusion.clipSample',
      `${d.clipSample}: the samplers clamp x0 to [-1, 1] only (clip_sample_range 1), or not at all (clipX0: false)`);
  }
  return {
    schedule: makeSchedule(d),
    prediction: d.prediction,
    spacing: spacingOf(s.spacing) ?? (takesSpacing ? d.timestepSpacing : undefined),
    clip: clipOf(s.clipX0) ?? (d.clipSample === undefined ? true : d.clipSample > 0),
    stepsOffset: d.stepsOffset ?? 0,
    setAlphaToOne: d.setAlphaToOne,
  };
}

// ---- the checks of each setting's value ----

/** steps for a scheduler of T training timesteps: an integer in [1, T]. */
export function checkSteps(name: string, steps: number, T: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new OptionError('steps', `must be an integer in [1, ${T}] for ${name}, got ${steps}`);
  }
}

export function spacingOf(v: unknown): TimestepSpacing | undefined {
  if (v === undefined) return undefined;
  if (!(TIMESTEP_SPACINGS as readonly unknown[]).includes(v)) {
    throw new OptionError('spacing', `must be one of ${TIMESTEP_SPACINGS.join('|')}, got ${JSON.stringify(v)}`);
  }
  return v as TimestepSpacing;
}

export function varianceOf(v: unknown): DdpmVariance | undefined {
  if (v === undefined) return undefined;
  if (v !== 'beta' && v !== 'posterior') throw new OptionError('variance', `must be one of beta|posterior, got ${JSON.stringify(v)}`);
  return v;
}

export function etaOf(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new OptionError('eta', `must be in [0, 1], got ${String(v)}`);
  return v;
}

export function clipOf(v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new OptionError('clipX0', `must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}
