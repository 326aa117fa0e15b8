/**
 * The package root (`import { pipeline, loadModel, createSampler, train } from 'onnx-diffusion'`):
 * the user-level API. Load a model (a path, a shipped name, a URL, bytes, a diffusers folder) and
 * sample from it, build a model from a recipe, train or fine-tune it, write images. The deeper
 * layers are subpath entries (docs/library.md, "Entries"): `onnx-diffusion/graph` (ONNX IR, file
 * formats), `/autodiff`, `/train` (training graphs and loops, LoRA internals, data sets),
 * `/diffusion` (schedules, objectives, samplers, scheduler classes), `/eval` (sample-quality
 * scores), and `/web` (the browser entry).
 */

// Pipelines: one call from a model to images, in Node
export { pipeline, type NodeGenerateOptions, type NodeImagePipeline, type NodePipelineOptions } from './runtime/node-pipeline';
export { imagePipeline, generator, type GenerateOptions, type ImagePipeline } from './diffusion/image-pipeline';
export { loadStableDiffusion, isStableDiffusionFolder, type StableDiffusionPipeline, type NodeStableDiffusionOptions, type LoadStableDiffusionOptions } from './runtime/sd';
export type { StableDiffusionOptions, SdResult, SdStepInfo } from './diffusion/sd/pipeline';
export { loadCascade, loadEnsemble, type LoadedCascade, type LoadedEnsemble } from './runtime/cascades';
export type { CascadeSampleOptions } from './diffusion/cascades';

// Models: loading, sampling step by step, building from a recipe
export { loadModel, resolveModelPath, type LoadModelOptions, type NodeModelSource } from './runtime/load';
export { DiffusionModel, type LoadOptions } from './runtime/model';
export type { Device } from './runtime/node';
export { packageRoot, shippedModels, shippedRecipes } from './core/node/package-files';
export {
  createSampler, type CreateSamplerOptions, type SampleCallOptions, type SampleResult, type Sampler, type SamplerModel,
} from './diffusion/sampler';
export type { SamplerName } from './core/diffusion-config';
export type { StepInfo } from './diffusion/samplers/types';
export { buildModel, loadRecipe, validateRecipe, countParams, countFlops, type BuildModelOptions, type Recipe } from './nn';
export { readModelConfig, configFromJson, type ModelConfig } from './core/model-config';
export { decodeModel, encodeModel } from './onnx/proto';

// Schedulers: the one registry (diffusers' scheduler_config.json, and your own)
export {
  createScheduler, registerScheduler, unregisterScheduler, schedulerNames, modelScheduler, DEFAULT_SCHEDULER,
  type Scheduler, type SchedulerFactory, type NoiseSource, type ModelScheduler, type ModelSchedulerFactory, type SchedulerEntry, type SchedulerSettings, type StartOptions,
} from './diffusion/schedulers';

// Training and fine-tuning
export { train, type TrainOptions, type TrainResult, type StepReport } from './train/trainer';
export { trainExperts, type TrainExpertsOptions, type TrainExpertsResult } from './train/experts';
export { readAdapterFile, mergedModel } from './runtime/lora-file';
export { mergeLora, extractLora, encodeAdapter, decodeAdapter, LORA_PRESETS, type LoraAdapter, type LoraSpec } from './nn/lora';
export { evaluate, createEvaluator, type EvaluateOptions, type Evaluation, type Evaluator, type EvaluatorOptions, type Scores } from './eval/evaluate';

// Images
export { makeGrid, makeStrip, upscale, encodeImage, writePng, writeImage, writeAnimation, readImage, toRgba, imageToRgba, type RgbaImage } from './image';

// Errors and the seeded generator
export { DiffusionError, OptionError, FileFormatError, ConfigError } from './core/errors';
export { Rng, type RngState } from './core/rng';
