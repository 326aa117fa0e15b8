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
import { findIoRoles } from '../core/io-roles';
import { prepareForeignModel } from './foreign-model';

/** The model to train: model.onnx as it will be saved, the graph the step is built from, its config. */
export interface Setup {
  model: Model;
  trainModel: Model;
  config: ModelConfig;
  recipe?: Recipe;
  /** For a foreign export: the batch its training graph is pinned to (the step graph must use the same). */
  batch?: number;
  /** LoRA over external data: the frozen weights are placeholders, written by reference (Node's frozen-weights.ts). */
  frozen?: FrozenByReference;
}

/** Frozen weights left in their data file: every model written from this setup names them by reference. */
export interface FrozenByReference {
  /** Writes `model` as `file`, the frozen weights as references to a hard link of their data file beside it. */
  write(model: Model, file: string): void;
}

export interface SetupFromModelOptions {
  /** Names `given` in messages (default 'config'). */
  configName?: string;
  /** The prediction the caller asks for; only a fresh model may change it. */
  prediction?: string;
  /** How this caller passes a config, for a model without metadata (default: the Node trainer's `config` or `recipe`). */
  noConfig?: string;
  /** The training batch: a foreign export's symbolic dims are pinned to it (default 1). */
  batch?: number;
  /**
   * The config the caller already parsed from the model's metadata (null: it carries none), so it
   * is not parsed again; used when `given` is undefined. Left as it was: the setup works on a copy.
   */
  metadataConfig?: ModelConfig | null;
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
  const parsed = o.metadataConfig === undefined ? readModelConfig(model.metadata, file) : o.metadataConfig === null ? undefined : structuredClone(o.metadataConfig);
  const config = given !== undefined ? configFromJson(given, configName) : parsed;
  if (!config) throw new DiffusionError(`${file}: the model carries no onnx-diffusion metadata; ${noConfig}`);
  if (prediction && prediction !== config.diffusion.prediction) {
    throw new OptionError('prediction', `${prediction}: the model was trained to predict ${config.diffusion.prediction}; only fresh models (\`recipe\`) can change it`);
  }
  // A foreign export (diffusers, optimum, torch.onnx): roles by name, trained through a graph
  // with x and t, pinned dims and folded shapes; model.onnx keeps the graph as exported.
  const roles = config.recipe === undefined ? findIoRoles(model.graph, config.roles ?? {}, file) : undefined;
  if (roles && config.conditioning.inputs) {
    config.conditioning.inputs = config.conditioning.inputs.filter((i) => i.name !== roles.sample && i.name !== roles.timestep);
    if (config.conditioning.inputs.length === 0) delete config.conditioning.inputs;
  }
  describeGraphInputs(model, config, file, roles ? [roles.sample, roles.timestep] : []);
  const graphInputs = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  const asTrained = (n: string) => (n === roles?.sample ? 'x' : n === roles?.timestep ? 't' : n);
  checkConfigInputs(config, graphInputs.map((i) => asTrained(i.name)), file, graphInputs.find((i) => asTrained(i.name) === 'x')?.shape);
  writeModelConfig(model.metadata, config);
  if (roles) {
    const batch = o.batch ?? 1;
    const prepared = prepareForeignModel(model, config, batch, file, roles);
    return { model, trainModel: prepared.model, config, batch };
  }
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
function describeGraphInputs(model: Model, config: ModelConfig, file: string, roleInputs: string[]): void {
  const known = [...Object.keys(expectedFeeds(config)), ...roleInputs];
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
