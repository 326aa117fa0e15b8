import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readTextLimited } from '../core/node/read-limits';
import { packageRoot } from '../core/node/package-files';
import { readModelConfig } from '../core/model-config';
import { DiffusionError, OptionError } from '../core/errors';
import { buildModel, loadRecipe } from '../nn';
import { Budget, checkRecipeBudget } from '../nn/recipe-budget';
import { availableMemory } from '../core/node/memory';
import type { Recipe } from '../nn';
import { readTrainModel } from './frozen-weights';
import { diffusersFolderConfig, diffusersFolderOf, diffusersUnetFile, isDiffusersFolder } from '../runtime/diffusers-folder';
import type { TrainOptions } from './options';
import { Setup, setupFromModel } from './setup-from-model';

export type { Setup } from './setup-from-model';

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readTextLimited(path, 'json', 'JSON config'));
  } catch (e) {
    throw new DiffusionError(`${path}: cannot read JSON config (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The batch a run was trained with (train.json's options), for a resumed foreign model's pinned dims. */
function savedBatch(dir: string): number | undefined {
  const file = join(dir, 'train.json');
  if (!existsSync(file)) return undefined;
  const j = readJsonFile(file) as { options?: { batch?: number; overfitBatch?: number } };
  return j.options?.overfitBatch ?? j.options?.batch;
}

/** The model to train and its config, from a recipe, an existing model.onnx, or a checkpoint. */
export function setupModel(o: TrainOptions): Setup {
  const sources = [o.recipe, o.init, o.resume].filter((x) => x !== undefined).length;
  if (sources > 1) throw new DiffusionError('give only one of `recipe`, `init` and `resume`');
  if (o.config !== undefined && o.init === undefined) {
    throw new OptionError('config', `${typeof o.config === 'string' ? `${o.config}` : 'object'}: only used with \`init\` (a model without onnx-diffusion metadata)`);
  }
  // A diffusers pipeline folder trains its unet/model.onnx, with the folder's scheduler and UNet configs.
  const file = o.resume ? join(o.resume, 'model.onnx') : o.init !== undefined && isDiffusersFolder(o.init) ? diffusersUnetFile(o.init) : o.init;
  if (file) {
    if (!existsSync(file)) throw new DiffusionError(`${file}: no such model file`);
    // External data is read from the model's own folder only (runtime/model-files.ts checks every location).
    // LoRA over SD-size external data keeps the frozen weights there (frozen-weights.ts).
    const { model, frozen } = readTrainModel(file, o);
    const user = typeof o.config === 'string' ? readJsonFile(o.config) : o.config;
    const root = o.resume ? undefined : diffusersFolderOf(file);
    // The metadata's config is parsed once, here, and handed to setupFromModel.
    const inFile = readModelConfig(model.metadata, file);
    const given = root !== undefined && inFile === undefined ? diffusersFolderConfig(root, model, [], user, typeof o.config === 'string' ? o.config : 'config') : user;
    // A foreign export's dims are pinned to the batch the trainer builds its step graph with (a resumed run keeps its own).
    const batch = (o.resume ? savedBatch(o.resume) : undefined) ?? o.overfitBatch ?? o.batch ?? 64;
    const setup = setupFromModel(model, file, given, { configName: typeof o.config === 'string' ? o.config : 'config', prediction: o.prediction, batch, metadataConfig: inFile ?? null });
    return frozen ? { ...setup, frozen } : setup;
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

function defaultRecipePath(): string {
  return join(packageRoot(), 'graphs', 'unet-fashion-mnist.json');
}
