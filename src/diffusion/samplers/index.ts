/**
 * The samplers of the project's models. Each sampler file holds a pure `step` (its paper's update)
 * and a scheduler object (schedulers/types.ts `ModelScheduler`) that the one loop of loop.ts
 * drives; the names are entries of the one scheduler registry (schedulers/index.ts).
 * `runSampler` and `createSamplerFn` are thin wrappers that run a named scheduler on a schedule.
 */
import { Prediction } from '../../core/diffusion-config';
import { FORMAT, type ModelConfig } from '../../core/model-config';
import { OptionError } from '../../core/errors';
import { NoiseSchedule } from '../schedules';
import { modelScheduler, schedulerNames } from '../schedulers';
import { denoise } from './loop';
import { DdimOptions, DdpmOptions, Denoiser, DpmSolverOptions, SampleShape } from './types';

export { SAMPLER_NAMES, type SamplerName } from '../../core/diffusion-config';

/** The union of every sampler's options; each sampler reads the ones it knows. */
export type AnySamplerOptions = DdpmOptions & DdimOptions & DpmSolverOptions;

export type SamplerFn = (
  denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape,
) => Promise<Float32Array>;

/** `name` if it names a scheduler of gaussian models (the registry's, the user's included), else an OptionError (`sampler`) listing them. */
export function samplerName(name: string): string {
  const names = schedulerNames('gaussian');
  if (!names.includes(name)) throw new OptionError('sampler', `must be one of ${names.join('|')}, got "${name}"`);
  return name;
}

/**
 * Samples `shape.n` images with the named scheduler of gaussian models on `schedule` (whose
 * config it is made from); returns x0 as NCHW flattened.
 */
export async function runSampler(
  name: string, denoiser: Denoiser, schedule: NoiseSchedule, prediction: Prediction, shape: SampleShape,
  options: AnySamplerOptions = {},
): Promise<Float32Array> {
  const { steps, eta, spacing, variance, clipX0, stepsOffset, setAlphaToOne, ...run } = options;
  // the schedule's own tables, not defaults from a diffusers config: runSampler takes spacing and clipX0 as options
  const diffusion = { ...schedule.config, timestepSpacing: undefined, clipSample: undefined, prediction, stepsOffset, setAlphaToOne };
  const config: ModelConfig = { format: FORMAT, kind: 'gaussian', image: { channels: shape.c, size: shape.h }, diffusion, conditioning: {} };
  const scheduler = modelScheduler(config, name, { steps, eta, spacing, variance, clipX0 });
  return denoise(scheduler, denoiser, shape, { ...run, steps });
}

/** A sampler with its name and options fixed (validated against the schedule on each call). */
export function createSamplerFn(name: string, options: AnySamplerOptions = {}): SamplerFn {
  samplerName(name);
  return (denoiser, schedule, prediction, shape) => runSampler(name, denoiser, schedule, prediction, shape, options);
}

export { ddimSample, ddimSigma, ddimStep, DdimModelScheduler } from './ddim';
export { ddpmSample, ddpmStep, ddpmPosterior, DdpmScheduler } from './ddpm';
export { dpmpp2mSample, dpmpp2mStep, Dpmpp2mScheduler } from './dpmpp2m';
export { eulerSample, eulerStep, EulerScheduler } from './euler';
export { heunSample, heunStep, HeunScheduler } from './heun';
export { karrasSigmas, karrasGrid, sigmaToTimestep, scheduleSigmas, KARRAS_RHO, KarrasScheduler } from './karras';
export { guidedDenoiser, guidedBy, conditionalDenoiser } from './guidance';
export type { ClassDenoiser } from './guidance';
export { ToyScheduler, toySample, toyStep, toyCorrupt, toyAmountToT, toyNoise, TOY_T } from './toy';
export type { ToyOptions, ToyNoise } from './toy';
export { ColdScheduler, coldSample, coldStep, coldDegrade } from './cold';
export type { ColdConfig, ColdOptions } from './cold';
export { makeTimesteps } from './timesteps';
export { denoise, runTimesteps, type DenoiseOptions } from './loop';
export { IndexedScheduler, VpScheduler, type StepResult } from './scheduler';
export * from './types';
