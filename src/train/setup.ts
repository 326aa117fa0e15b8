import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFileLimited, readTextLimited } from '../core/node/read-limits';
import { packageRoot } from '../core/node/package-files';
import { checkConfigInputs } from '../diffusion/config-inputs';
import { configFromJson, ModelConfig, readModelConfig, writeModelConfig } from '../core/model-config';
import { DiffusionError, OptionError } from '../core/errors';
import { inferKind } from '../core/cond-inputs';
import { expectedFeeds } from '../core/feed-check';
import { buildModel, loadRecipe } from '../nn';
import { validateRecipe } from '../core/recipe';
import { Budget, checkRecipeBudget } from '../nn/recipe-budget';
import { availableMemory } from '../core/node/memory';
import type { Recipe } from '../nn';
import { Model } from '../onnx/ir';
import { decodeModel } from '../onnx/proto';
import { fullPrecisionWeights } from '../onnx/fp16';
import type { TrainOptions } from './options';

/** The model to train: model.onnx as it will be saved, the graph the step is built from, its config. */
export interface Setup {
  model: Model;
  trainModel: Model;
  config: ModelConfig;
  recipe?: Recipe;
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readTextLimited(path, 'json', 'JSON config'));
  } catch (e) {
    throw new DiffusionError(`${path}: cannot read JSON config (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The model to train and its config, from a recipe, an existing model.onnx, or a checkpoint. */
export function setupModel(o: TrainOptions): Setup {
  const sources = [o.recipe, o.init, o.resume].filter((x) => x !== undefined).length;
  if (sources > 1) throw new DiffusionError('give only one of `recipe`, `init` and `resume`');
  if (o.config !== undefined && o.init === undefined) {
    throw new OptionError('config', `${typeof o.config === 'string' ? `${o.config}` : 'object'}: only used with \`init\` (a model without onnx-diffusion metadata)`);
  }
  const file = o.resume ? join(o.resume, 'model.onnx') : o.init;
  if (file) {
    if (!existsSync(file)) throw new DiffusionError(`${file}: no such model file`);
    // A half-stored file (export --fp16) trains in float32: its weights become initializers again.
    const model = fullPrecisionWeights(decodeModel(readFileLimited(file, 'onnx', 'model file'), file));
    const given = typeof o.config === 'string' ? readJsonFile(o.config) : o.config;
    const config = given !== undefined ? configFromJson(given, typeof o.config === 'string' ? o.config : 'config') : readModelConfig(model.metadata, file);
    if (!config) throw new DiffusionError(`${file}: the model carries no onnx-diffusion metadata; pass \`config\` (a JSON file) or use \`recipe\``);
    if (o.prediction && o.prediction !== config.diffusion.prediction) {
      throw new OptionError('prediction', `${o.prediction}: the model was trained to predict ${config.diffusion.prediction}; only fresh models (\`recipe\`) can change it`);
    }
    describeGraphInputs(model, config, file);
    checkConfigInputs(config, model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name), file, model.graph.inputs.find((i) => i.name === 'x')?.shape);
    writeModelConfig(model.metadata, config);
    // Our own models carry their recipe: with dropout, train through a graph that has the Dropout
    // nodes (model.onnx has none), holding this file's weights under the same names.
    const recipe = config.recipe === undefined ? undefined : validateRecipe(config.recipe, `${file}: the recipe in its metadata`);
    if (recipe && (recipe.unet?.dropout ?? 0) > 0) {
      const trainModel = buildModel(recipe, { training: true });
      trainModel.graph.initializers = new Map(model.graph.initializers);
      return { model, trainModel, config, recipe };
    }
    return { model, trainModel: model, config, recipe };
  }
  const recipe0 = typeof o.recipe === 'string' ? loadRecipe(o.recipe) : o.recipe ?? loadRecipe(defaultRecipePath());
  const recipe: Recipe = o.prediction ? { ...recipe0, diffusion: { ...recipe0.diffusion, prediction: o.prediction } } : recipe0;
  const seed = o.seed ?? recipe.seed;
  // Before building: a recipe too large to train at this batch fails here, not in an allocation.
  checkRecipeBudget(recipe, typeof o.recipe === 'string' ? o.recipe : 'recipe', trainingBudget(o.overfitBatch ?? o.batch ?? 64));
  const model = buildModel(recipe, { seed });
  const dropout = recipe.unet.dropout ?? 0;
  const trainModel = dropout > 0 ? buildModel(recipe, { seed, training: true }) : model;
  const config = readModelConfig(model.metadata, 'recipe')!;
  return { model, trainModel, config, recipe };
}

/** Memory of one training step: params, m, v, EMA in and out, gradients and model copies (about 12 float32 per parameter), activations kept for the backward pass. */
export function trainingBudget(batch: number): Budget {
  return { batch, copies: 12, activationFactor: 3, available: availableMemory(), batchFlag: '--batch' };
}

/**
 * Conditioning inputs the config does not describe are described from the graph's own input
 * declarations (dtype, shape; meaning from the rank), so the model.onnx we write carries them.
 */
function describeGraphInputs(model: Model, config: ModelConfig, file: string): void {
  const known = Object.keys(expectedFeeds(config));
  for (const v of model.graph.inputs) {
    if (known.includes(v.name) || model.graph.initializers.has(v.name)) continue;
    if ((v.dtype !== 'float32' && v.dtype !== 'int64') || !v.shape || v.shape.length === 0) {
      throw new DiffusionError(`${file}: input '${v.name}' (${v.dtype} [${v.shape?.join(',') ?? '?'}]) cannot be a conditioning input; describe it in the config`);
    }
    const shape = ['N', ...v.shape.slice(1)];
    config.conditioning.inputs = [...(config.conditioning.inputs ?? []), { name: v.name, dtype: v.dtype, shape, kind: inferKind(v.dtype, shape) }];
  }
}

function defaultRecipePath(): string {
  return join(packageRoot(), 'graphs', 'unet-fashion-mnist.json');
}

/** Trains a model; see TrainOptions. Writes checkpoints to `out` and returns the loss history. */
