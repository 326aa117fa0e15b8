/**
 * The samplers by name. Each sampler file exports a pure `step` (its paper's update) and runs it
 * through the one loop of loop.ts. `runSampler` validates the choice and its options and
 * dispatches; `createSamplerFn` binds a name and options once for repeated use.
 */
import { OptionError } from '../../core/errors';
import { Prediction, SAMPLER_NAMES, SamplerName } from '../../core/diffusion-config';
import { Schedule } from '../schedules';
import { ddimSample } from './ddim';
import { ddpmSample } from './ddpm';
import { dpmpp2mSample } from './dpmpp2m';
import { eulerSample } from './euler';
import { heunSample } from './heun';
import { DdimOptions, DdpmOptions, Denoiser, DpmSolverOptions, SampleShape } from './types';

export { SAMPLER_NAMES, type SamplerName } from '../../core/diffusion-config';

/** The samplers that step on the Karras et al. 2022 sigma grid instead of a timestep spacing. */
export const KARRAS_SAMPLERS: readonly string[] = ['euler', 'heun'] satisfies SamplerName[];

/** The union of every sampler's options; each sampler reads the ones it knows. */
export type AnySamplerOptions = DdpmOptions & DdimOptions & DpmSolverOptions;

export type SamplerFn = (
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape,
) => Promise<Float32Array>;

/** `name` as a SamplerName, or an OptionError (`sampler`) listing the samplers. */
export function samplerName(name: string): SamplerName {
  if (!(SAMPLER_NAMES as readonly string[]).includes(name)) {
    throw new OptionError('sampler', `must be one of ${SAMPLER_NAMES.join('|')}, got "${name}"`);
  }
  return name as SamplerName;
}

function validate(name: string, schedule: Schedule, opts: AnySamplerOptions): SamplerName {
  samplerName(name);
  const T = schedule.timesteps;
  if (opts.steps !== undefined && (!Number.isInteger(opts.steps) || opts.steps < 1 || opts.steps > T)) {
    throw new OptionError('steps', `must be an integer in [1, ${T}] for ${name}, got ${opts.steps}`);
  }
  if (opts.spacing !== undefined && KARRAS_SAMPLERS.includes(name)) {
    throw new OptionError('spacing', `does not apply to ${name} (it steps on the Karras sigma grid)`);
  }
  if (opts.eta !== undefined && (name !== 'ddim' || !(opts.eta >= 0 && opts.eta <= 1))) {
    throw new OptionError('eta', name === 'ddim' ? `must be in [0, 1], got ${opts.eta}` : `applies to the ddim sampler only (not ${name})`);
  }
  return name as SamplerName;
}

/** Samples `shape.n` images with the named sampler; returns x_0 as NCHW flattened. */
export async function runSampler(
  name: SamplerName, denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape,
  options: AnySamplerOptions = {},
): Promise<Float32Array> {
  switch (validate(name, schedule, options)) {
    case 'ddpm': return ddpmSample(denoiser, schedule, prediction, shape, options);
    case 'ddim': return ddimSample(denoiser, schedule, prediction, shape, options);
    case 'dpm++2m': return dpmpp2mSample(denoiser, schedule, prediction, shape, options);
    case 'dpm++2m-sde': return dpmpp2mSample(denoiser, schedule, prediction, shape, options, true);
    case 'euler': return eulerSample(denoiser, schedule, prediction, shape, options);
    case 'heun': return heunSample(denoiser, schedule, prediction, shape, options);
  }
}

/** A sampler with its name and options fixed (validated against the schedule on each call). */
export function createSamplerFn(name: SamplerName, options: AnySamplerOptions = {}): SamplerFn {
  samplerName(name);
  return (denoiser, schedule, prediction, shape) => runSampler(name, denoiser, schedule, prediction, shape, options);
}

export { ddimSample, ddimSigma, ddimStep } from './ddim';
export { ddpmSample, ddpmStep, ddpmPosterior } from './ddpm';
export { dpmpp2mSample, dpmpp2mStep } from './dpmpp2m';
export { eulerSample, eulerStep } from './euler';
export { heunSample, heunStep } from './heun';
export { karrasSigmas, karrasGrid, sigmaToTimestep, scheduleSigmas, KARRAS_RHO } from './karras';
export { guidedDenoiser, guidedBy, conditionalDenoiser } from './guidance';
export type { ClassDenoiser } from './guidance';
export { toySample, toyStep, toyCorrupt, toyAmountToT, toyNoise, TOY_T } from './toy';
export type { ToyOptions, ToyNoise } from './toy';
export { coldSample, coldStep, coldDegrade } from './cold';
export type { ColdConfig, ColdOptions } from './cold';
export { makeTimesteps } from './timesteps';
export { sampleLoop, type SamplerPlan } from './loop';
export * from './types';
