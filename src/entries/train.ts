/**
 * `onnx-diffusion/train`: the training floor under `train()` (docs/architecture.md, "The training
 * floor"). The one training-graph builder and its losses, the step graph of a diffusion model, the
 * training run around any session, the optimizer graph and the learning-rate schedules, step
 * memory estimates, LoRA internals (insertion, targets, key formats), the classifier network, and
 * the data sets and batch loader.
 */
export {
  buildTrainGraph, paramsAsInput, optimizerFeeds,
  type TrainGraph, type TrainGraphOptions, type TrainVectors, type StepScalars,
} from '../train/train-graph';
export { crossEntropyLoss, diffusionLoss, type LossSpec, type LossBuilder, type CrossEntropyLoss, type DiffusionLossOptions, type TrainLoss } from '../train/losses';
export { buildStepGraph, type StepGraph, type StepGraphOptions } from '../train/step-graph';
export { TrainingRun, freshVectors, type Feeds, type RunGraph, type StepOutcome, type TrainingRunInit } from '../train/training-run';
export { GraphTrainer, type GraphStepOptions } from '../train/graph-trainer';
export { appendOptimizer, DEFAULT_ADAMW, type AdamWConfig } from '../train/optim';
export { learningRate, emaDecayAt, type LrDecay } from '../train/lr';
export { resolveLrSchedule, stepScalars, TRAIN_DEFAULTS, type LrSchedule, type LrScheduleOptions } from '../train/hyper';
export { trainableLayout, flattenParams, unflattenInto, type ParamLayout, type ParamSlot } from '../train/params';
export { estimateStepMemory, estimateWeightMemory, checkStepMemory, type StepMemory, type WeightMemory } from '../train/step-memory';
export { setupModel } from '../train/setup';
export { setupFromModel, modelWithWeights, type Setup } from '../train/setup-from-model';
export { buildClassifier, classifierNet, FASHION_MNIST_CLASSIFIER, type ClassifierOptions, type ClassifierConfig } from '../nn/classifier';

// LoRA internals: insertion, targets and the ecosystem's key names (docs/lora.md); the one glob matcher
export {
  insertLora, findLoraTargets, checkAdapter, loraCandidates, loraSpecOf, DEFAULT_LORA_TARGETS, LORA_TRAINABLE,
  type LoraOptions, type LoraTarget, type LoraCandidate, type WeightInfo,
} from '../nn/lora';
export { adapterKeys, parseAdapterKey, kohyaName, LORA_KEY_FORMATS, type LoraKeyFormat } from '../nn/lora-keys';
export { globMatcher } from '../core/glob';

// Data sets and the seeded batch loader
export { openDataset, BatchLoader, MemoryDataset, DATASET_KINDS, type Dataset, type DatasetRequest, type Batch, type LoaderOptions } from '../data';
