/**
 * The package root (`import { loadModel, createSampler } from 'onnx-diffusion'`): build a model
 * from a recipe, train it, load any model.onnx and sample from it in Node. The browser entry
 * (src/web) exports the same sampler API over onnxruntime-web.
 */

// One-call sampling, loading and sampling
export { pipeline, type NodeGenerateOptions, type NodeGenerator } from './runtime/generate';
export { generator, type GenerateOptions, type Generator } from './diffusion/generate';
export { loadModel, resolveModelPath, type LoadModelOptions, type NodeModelSource } from './runtime/load';
export { packageRoot, shippedModels, shippedRecipes } from './core/node/package-files';
export { DiffusionModel, type Extras, type LoadOptions, type OrtApi } from './runtime/model';
export type { Device } from './runtime/node';
export {
  createSampler, type CreateSamplerOptions, type SampleCallOptions, type SampleResult, type Sampler, type SamplerModel,
} from './diffusion/sampler';
export {
  runSampler, createSamplerFn, SAMPLER_NAMES, ddpmSample, ddimSample, dpmpp2mSample, eulerSample, heunSample, karrasSigmas,
  toySample, coldSample, guidedDenoiser,
  makeTimesteps, type SamplerName, type SamplerFn, type AnySamplerOptions, type Denoiser, type SampleShape, type StepInfo,
  type TimestepSpacing, type DdpmVariance, type ImageInit,
} from './diffusion/samplers';

// Diffusion math
export { schedules, makeSchedule, betaSchedule, type Schedule } from './diffusion/schedules';
export { qSample, predToX0, predToEps, targetFor } from './diffusion/objectives';
export { Rng, type RngState } from './core/rng';
export type { DiffusionConfig, Prediction, ScheduleKind } from './core/diffusion-config';
export { readModelConfig, validateModelConfig, configFromJson, type ModelConfig, type Conditioning, type DiffusionKind } from './core/model-config';

// Models, training
export { buildModel, loadRecipe, validateRecipe, countParams, countFlops, type BuildModelOptions, type Recipe } from './nn';
export { buildStepGraph, type StepGraph, type StepGraphOptions } from './train/step-graph';
export { train, type TrainOptions, type TrainResult, type StepReport } from './train/trainer';
export { grad, gradGraph, type GradOptions } from './autodiff/grad';
export {
  buildTrainGraph, crossEntropyLoss, paramsAsInput, optimizerFeeds,
  type TrainGraph, type TrainGraphOptions, type LossSpec, type LossBuilder, type CrossEntropyLoss,
} from './train/train-graph';
export { GraphTrainer, type GraphStepOptions } from './train/graph-trainer';
export { appendOptimizer } from './train/optim';
export { learningRate, emaDecayAt, type LrDecay } from './train/lr';
export { buildClassifier, classifierNet, FASHION_MNIST_CLASSIFIER, type ClassifierOptions, type ClassifierConfig } from './nn/classifier';

// Evaluation: FD, confidence, class entropy, precision/recall over the classifier's features
export { evaluate, createEvaluator, type EvaluateOptions, type Evaluation, type Evaluator, type EvaluatorOptions, type Scores } from './eval/evaluate';
export { FeatureNet, defaultClassifierPath, type Embedding } from './eval/feature-net';
export {
  frechetDistance, featureStats, precisionRecall, meanConfidence, classEntropy, classAccuracy, predictedClasses, type FeatureStats,
} from './eval/scores';

// Fine-tuning: LoRA adapters, conditioning inputs of any name, tensor files
export {
  insertLora, mergeLora, extractLora, findLoraTargets, encodeAdapter, decodeAdapter, DEFAULT_LORA_TARGETS, LORA_TRAINABLE,
  type LoraAdapter, type LoraOptions, type LoraSpec, type LoraTarget,
} from './nn/lora';
export { readAdapterFile, mergedModel } from './runtime/lora-file';
export type { CondInput, CondKind } from './core/model-config';
export { decodeNpy, encodeNpy, npyToFloat32, type NpyArray, type NpyDtype } from './data/npy';
export { encodeSafetensors, decodeSafetensors } from './onnx/safetensors';

// ONNX IR
export { decodeModel, encodeModel, Builder, Graph, newModel, Tensor, type Model, type Node, type ValueInfo } from './onnx';

// Data and images
export { openDataset, BatchLoader, DATASET_KINDS, type Dataset, type DatasetRequest, type Batch, type LoaderOptions } from './data';
export { makeGrid, makeStrip, upscale, encodeImage, writePng, writeImage, writeAnimation, readImage, toRgba, imageToRgba, type RgbaImage } from './image';

export { DiffusionError, OptionError, FileFormatError, ConfigError } from './core/errors';

// Pipelines: cascaded super-resolution and ensembles of timestep experts
export * from './diffusion/pipelines';
export { loadCascade, loadEnsemble, type LoadedCascade, type LoadedEnsemble } from './runtime/pipelines';
export { trainExperts, type TrainExpertsOptions, type TrainExpertsResult } from './train/experts';
// Stable Diffusion: prompt to image over a diffusers ONNX folder, and diffusers-parity scheduler objects
export { loadStableDiffusion, isStableDiffusionFolder, type StableDiffusionPipeline, type NodeStableDiffusionOptions, type LoadStableDiffusionOptions } from './runtime/sd';
export { StableDiffusion, type StableDiffusionOptions, type SdResult, type SdStepInfo, type SdParts, type SdOrt } from './diffusion/sd/pipeline';
export { ClipTokenizer, type ClipTokens, type TokenizerFiles } from './diffusion/sd/tokenizer';
export { openStableDiffusion, type FolderAccess } from './diffusion/sd/load';
export {
  createScheduler, registerScheduler, schedulerNames, DdimScheduler, EulerDiscreteScheduler, EulerAncestralScheduler, DpmSolverMultistepScheduler,
  PndmScheduler, type Scheduler, type SchedulerFactory, type NoiseSource,
} from './diffusion/schedulers';
