/**
 * What Node's train() prepares before its first step, from the resolved options: the model and
 * its LoRA adapters, the memory check, the data, the step graph and its session, and the state
 * (fresh, or read back from the checkpoint on resume).
 */
import { join } from 'node:path';
import { DEFAULT_COLD, ModelConfig } from '../core/model-config';
import { DiffusionError, OptionError } from '../core/errors';
import type { LoraSpec } from '../core/model-config';
import { readTextLimited } from '../core/node/read-limits';
import type { Dataset } from '../data/dataset';
import { openDataset } from '../data/open';
import { checkRecipeBudget } from '../nn/recipe-budget';
import { NodeSession } from '../runtime/node';
import { TRAIN_DEFAULTS } from './hyper';
import { applyLora, LORA_TRAINABLE } from './lora';
import { estimateWeightMemory } from './step-memory';
import type { TrainOptions } from './options';
import { Setup, setupModel, trainingBudget } from './setup';
import { buildStepGraph, StepGraph } from './step-graph';
import { stepGraphFile } from './frozen-weights';

/** The run's saved options (train.json), read first on resume: they win over the caller's. */
export function savedOptions(dir: string): TrainOptions {
  const file = join(dir, 'train.json');
  try {
    const j = JSON.parse(readTextLimited(file, 'json', 'train.json')) as { options?: TrainOptions };
    if (typeof j.options !== 'object' || j.options === null) throw new Error('no options in it');
    return j.options;
  } catch (e) {
    throw new DiffusionError(`${file}: cannot read the run's options (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Names the model in errors from its own graph or recipe (they name a node, value or key). */
export function sourceOf(opt: Readonly<TrainOptions>): string {
  if (opt.resume !== undefined) return join(opt.resume, 'model.onnx');
  return opt.init ?? (typeof opt.recipe === 'string' ? opt.recipe : 'recipe');
}

/** The model to train (with its adapters when LoRA trains), checked to fit in memory once. */
export function setupFor(opt: Readonly<TrainOptions>, source: string, setupOptions?: TrainOptions): { setup: Setup; lora?: LoraSpec } {
  // A resumed run's model is its checkpoint's model.onnx; its saved recipe or init only made it.
  // `setupOptions`: what the model is set up from when it differs (captions: data: the folder's UNet and config).
  const setup = setupModel(opt.resume !== undefined ? { ...opt, recipe: undefined, init: undefined, config: undefined } : setupOptions ?? opt);
  const { setup: adapted, lora } = applyLora(setup, opt);
  // A fresh recipe was checked before it was built (setupModel); a model read from a file is checked here.
  if (opt.recipe === undefined || opt.resume !== undefined) checkTrainingMemory(adapted, opt.overfitBatch ?? opt.batch ?? 64, source, lora ? LORA_TRAINABLE : opt.trainable);
  return { setup: adapted, lora };
}

/** Refuses, before allocating, a step whose parameters, optimiser state and activations cannot fit in memory. */
function checkTrainingMemory(setup: Setup, batch: number, source: string, trainable: string | undefined): void {
  const budget = trainingBudget(batch);
  if (setup.recipe) return checkRecipeBudget(setup.recipe, source.endsWith('.onnx') ? `${source}: the recipe in its metadata` : source, budget);
  // Frozen weights count once; gradients and optimizer state only for the trainable ones.
  const w = estimateWeightMemory(setup.model.graph, trainable, budget.copies);
  if (w.bytes > budget.available) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new DiffusionError(`${source}: training needs about ${gib(w.bytes)} for its weights (${gib(w.frozenBytes)} frozen, ${gib(w.trainableBytes)} trainable x ${budget.copies}), more than the ${gib(budget.available)} available`);
  }
}

/** The training data, checked against the model; a cold model's start distribution is fit to it. */
export async function openTrainingData(opt: Readonly<TrainOptions>, config: ModelConfig): Promise<Dataset> {
  const { channels, size } = config.image;
  const dataset = await openDataset(opt.data!, { channels, size, condChannels: config.conditioning.condChannels, seed: opt.seed ?? TRAIN_DEFAULTS.seed });
  checkData(dataset, config, opt);
  if (opt.batch !== undefined && opt.batch > dataset.length && !opt.overfitBatch) {
    throw new OptionError('batch', `${opt.batch}: larger than the data set ${dataset.name} (${dataset.length} images)`);
  }
  if (config.kind === 'cold-blur' && !config.cold) config.cold = coldStart(dataset);
  return dataset;
}

/**
 * The step graph and its onnxruntime-node session. With frozen weights by reference, the step
 * graph is written into `folder` (the run's) beside a hard link to their data file, and ORT opens it
 * from there with graph optimizations off: at level 'all' ORT constant-folds each frozen weight's
 * Transpose and flipped kernel into a second copy of the weights (docs/lora.md, "At SD-1.5 size").
 */
export async function openStep(
  setup: Setup, lora: LoraSpec | undefined, opt: Readonly<TrainOptions>, source: string, folder?: string,
): Promise<{ graph: StepGraph; session: NodeSession }> {
  try {
    const graph = buildStepGraph(setup.trainModel, setup.config, {
      trainable: lora ? LORA_TRAINABLE : opt.trainable, minSnrGamma: opt.minSnrGamma, adamw: { weightDecay: opt.weightDecay ?? 0 },
      // Over frozen weights by reference memory is what limits: recompute unless told not to (docs/lora.md: 1.71x -> 1.43x the weights at SD size).
      batch: opt.overfitBatch ?? opt.batch ?? 64, recompute: opt.recompute ?? setup.frozen !== undefined,
    });
    const so = { device: opt.device, deviceId: opt.deviceId, threads: opt.threads, memoryPattern: false };
    if (!setup.frozen) return { graph, session: await NodeSession.create(graph.model, so) };
    if (folder === undefined) throw new DiffusionError(`${source}: a step over frozen weights by reference needs a run folder`);
    const file = stepGraphFile(folder);
    setup.frozen.write(graph.model, file);
    return { graph, session: await NodeSession.create(file, { ...so, graphOptimization: 'disabled', prepacking: false }) };
  } catch (e) {
    throw namingSource(e, source, opt.device === 'cuda');
  }
}

export function namingSource(e: unknown, source: string, cuda: boolean): Error {
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes(source) || (cuda && e instanceof DiffusionError)) return e instanceof Error ? e : new Error(msg);
  const err = new DiffusionError(`${source}: ${msg.split('\n')[0]}`);
  err.cause = e;
  return err;
}

function checkData(d: Dataset, config: ModelConfig, o: Readonly<TrainOptions>): void {
  const cc = config.conditioning;
  if (cc.classes !== undefined && !d.label) throw new DiffusionError(`${d.name}: the model is class-conditional but the data has no labels`);
  if (cc.classes !== undefined && d.numClasses !== undefined && d.numClasses > cc.classes) {
    throw new DiffusionError(`${d.name}: ${d.numClasses} classes, the model has ${cc.classes}`);
  }
  if (cc.labels !== undefined && (!d.multiLabel || d.labelDim !== cc.labels)) {
    throw new DiffusionError(`${d.name}: the model needs multi-hot labels of width ${cc.labels} (labels.csv), the data has ${d.labelDim ?? 'none'}`);
  }
  if (cc.condChannels !== undefined && cc.lowResSize === undefined && !d.cond) {
    throw new DiffusionError(`${d.name}: the model needs condition images (paired:DIR data)`);
  }
  checkCondInputs(d, config);
  if (o.overfitBatch !== undefined && (!Number.isInteger(o.overfitBatch) || o.overfitBatch < 1)) {
    throw new OptionError('overfitBatch', `must be a positive integer, got ${o.overfitBatch}`);
  }
}

function checkCondInputs(d: Dataset, config: ModelConfig): void {
  // A manifest key that no input of the model takes is a typo or the wrong data: say so, do not drop it.
  const inputs = (config.conditioning.inputs ?? []).map((i) => i.name);
  for (const key of Object.keys(d.tensors ?? {})) {
    if (!inputs.includes(key)) {
      throw new DiffusionError(`${d.name}: its key '${key}' is no input of the model (conditioning inputs: ${inputs.join(', ') || 'none'})`);
    }
  }
  for (const input of config.conditioning.inputs ?? []) {
    const dims = d.tensors?.[input.name];
    if (!dims) {
      const what = `${input.dtype} [${input.shape.join(',')}]`;
      throw new DiffusionError(`${d.name}: the model's input '${input.name}' (${what}) needs per-image values: use manifest:DIR data naming it (docs/fine-tuning.md)`);
    }
    const want = input.shape.slice(1);
    if (dims.length !== want.length || want.some((w, k) => typeof w === 'number' && w !== dims[k])) {
      throw new DiffusionError(`${d.name}: '${input.name}' tensors are [${dims.join(',')}], the model expects [${want.join(',')}] per image`);
    }
  }
}

/**
 * Cold blur generation starts from flat images whose channel means are drawn from a Gaussian fit
 * to the data's per-image channel means (Bansal et al. 2022 fit a GMM to them); stored in the
 * model's metadata so the sampler uses the same start distribution and blur.
 */
function coldStart(d: Dataset): NonNullable<ModelConfig['cold']> {
  const n = Math.min(d.length, 2000);
  const per = d.height * d.width;
  const img = new Float32Array(d.channels * per);
  const means: number[] = [];
  for (let i = 0; i < n; i++) {
    d.image(i, img, 0);
    for (let c = 0; c < d.channels; c++) means.push(img.subarray(c * per, (c + 1) * per).reduce((s, v) => s + v, 0) / per);
  }
  const mean = means.reduce((s, v) => s + v, 0) / means.length;
  const std = Math.sqrt(means.reduce((s, v) => s + (v - mean) ** 2, 0) / means.length);
  return { blurStd: DEFAULT_COLD.blurStd, startMean: mean, startStd: std };
}

export function resolveSteps(o: Readonly<TrainOptions>, n: number, batch: number): number {
  if (o.steps !== undefined && o.epochs !== undefined) throw new DiffusionError('give `steps` or `epochs`, not both');
  const steps = o.steps ?? (o.epochs !== undefined ? Math.ceil((o.epochs * n) / batch) : TRAIN_DEFAULTS.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be a positive integer, got ${steps}`);
  return steps;
}
