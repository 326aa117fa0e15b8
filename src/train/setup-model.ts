/**
 * The model to train, from a decoded model.onnx (ours, or a foreign export with a config): pure,
 * so the Node trainer (setup.ts reads the file) and the page's trainer (src/web/trainer.ts) share it.
 */
import { checkConfigInputs } from '../diffusion/config-inputs';
import { configFromJson, ModelConfig, readModelConfig, writeModelConfig } from '../core/model-config';
import { DiffusionError, OptionError } from '../core/errors';
import { inferKind } from '../core/cond-inputs';
import { expectedFeeds } from '../core/feed-check';
import { validateRecipe, type Recipe } from '../core/recipe';
import { buildModel } from '../nn/model';
import { fullPrecisionWeights } from '../onnx/fp16';
import { Model } from '../onnx/ir';
import type { StepGraph } from './step-graph';
import { unflattenInto } from './params';

/** The model to train: model.onnx as it will be saved, the graph the step is built from, its config. */
export interface Setup {
  model: Model;
  trainModel: Model;
  config: ModelConfig;
  recipe?: Recipe;
}

export interface SetupFromModelOptions {
  /** Names `given` in messages (default 'config'). */
  configName?: string;
  /** The prediction the caller asks for; only a fresh model may change it. */
  prediction?: string;
  /** How this caller passes a config, for a model without metadata (default: the Node trainer's `config` or `recipe`). */
  noConfig?: string;
}

/**
 * Setup for fine-tuning `model`: its config from `given` (a JSON object, for a model without
 * metadata) or from its metadata; conditioning inputs the config does not describe are described
 * from the graph.
 */
export function setupFromModel(decoded: Model, file: string, given?: unknown, o: SetupFromModelOptions = {}): Setup {
  const { configName = 'config', prediction, noConfig = 'pass `config` (a JSON file) or use `recipe`' } = o;
  // A half-stored file (export --fp16) trains in float32: its weights become initializers again.
  const model = fullPrecisionWeights(decoded);
  const config = given !== undefined ? configFromJson(given, configName) : readModelConfig(model.metadata, file);
  if (!config) throw new DiffusionError(`${file}: the model carries no onnx-diffusion metadata; ${noConfig}`);
  if (prediction && prediction !== config.diffusion.prediction) {
    throw new OptionError('prediction', `${prediction}: the model was trained to predict ${config.diffusion.prediction}; only fresh models (\`recipe\`) can change it`);
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

/** model.onnx with the given flat weights written into its initializers and `config` in its metadata. */
export function modelWithWeights(setup: Setup, step: StepGraph, weights: Float32Array, config: ModelConfig): Model {
  const graph = setup.model.graph.clone();
  unflattenInto(graph, step.layout, weights);
  const m: Model = { ...setup.model, graph, metadata: { ...setup.model.metadata } };
  writeModelConfig(m.metadata, config);
  return m;
}
