/**
 * `onnx-diffusion/diffusion`: the diffusion math, pure and browser-safe. Noise schedules,
 * eps/x0/v objectives, the project's samplers (each a pure step) and their loop, guidance, the
 * diffusers-parity scheduler classes, cascades and expert ensembles over loaded models, and the
 * model config with its I/O roles.
 */
export * from '../diffusion/schedules';
export * from '../diffusion/objectives';
export {
  runSampler, createSamplerFn, SAMPLER_NAMES, ddpmSample, ddimSample, dpmpp2mSample, eulerSample, heunSample, karrasSigmas,
  toySample, coldSample, guidedDenoiser, makeTimesteps,
  type SamplerName, type SamplerFn, type AnySamplerOptions,
} from '../diffusion/samplers';
export type { Denoiser, SampleShape, StepInfo, TimestepSpacing, DdpmVariance, ImageInit } from '../diffusion/samplers/types';
export { createSampler, type CreateSamplerOptions, type Extras, type SampleCallOptions, type SampleResult, type Sampler, type SamplerModel } from '../diffusion/sampler';
export {
  createScheduler, registerScheduler, unregisterScheduler, schedulerNames, modelScheduler, DEFAULT_SCHEDULER,
  DdimScheduler, EulerDiscreteScheduler, EulerAncestralScheduler, DpmSolverMultistepScheduler, PndmScheduler,
  DiffusersDdpmScheduler, HeunDiscreteScheduler, LmsDiscreteScheduler,
  type Scheduler, type SchedulerFactory, type NoiseSource, type ModelScheduler, type ModelSchedulerFactory, type SchedulerEntry, type SchedulerSettings, type StartOptions,
} from '../diffusion/schedulers';
export {
  denoise, runTimesteps, IndexedScheduler, VpScheduler, DdpmScheduler, DdimModelScheduler, Dpmpp2mScheduler, EulerScheduler, HeunScheduler, ToyScheduler, ColdScheduler,
} from '../diffusion/samplers';
export * from '../diffusion/cascades';
export { resolveIo, type ModelIo, type TimestepFeed } from '../diffusion/config-inputs';
export { StableDiffusion, type StableDiffusionOptions, type SdResult, type SdStepInfo, type SdParts, type SdOrt } from '../diffusion/sd/pipeline';
export { ClipTokenizer, type ClipTokens, type TokenizerFiles } from '../diffusion/sd/tokenizer';
export { openStableDiffusion, type FolderAccess } from '../diffusion/sd/load';
export type { DiffusionConfig, Prediction, ScheduleKind } from '../core/diffusion-config';
export {
  readModelConfig, validateModelConfig, configFromJson,
  type ModelConfig, type Conditioning, type DiffusionKind, type CondInput, type CondKind, type Roles,
} from '../core/model-config';
export { diffusersFolderConfig } from '../runtime/diffusers-folder';
export { DiffusionModel, type LoadOptions, type OrtApi } from '../runtime/model';
export { Rng, type RngState } from '../core/rng';
