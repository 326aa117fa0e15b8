/**
 * Inserting LoRA adapters into the model to train (pure, so Node's train() and the page's
 * trainer share it; train/lora.ts re-exports it beside Node's adapter file writer).
 */
import { DiffusionError } from '../core/errors';
import type { LoraSpec } from '../core/model-config';
import { insertLoraWith, type LoraOptions } from '../nn/lora';
import type { Setup } from './setup-from-model';

/** What applyLora reads of the run's options (TrainOptions, or the page trainer's). */
export interface LoraRunOptions {
  lora?: { rank: number; alpha?: number; targets?: string };
  trainable?: string;
  resume?: string;
  seed?: number;
}

/**
 * The setup to train with LoRA when asked (a new Setup whose models carry adapters; the given one
 * is left as it was), or as given with the adapters a resumed or re-initialised model already
 * carries; `lora` is the spec, or undefined for full or partial fine-tuning.
 */
export function applyLora(setup: Setup, o: LoraRunOptions): { setup: Setup; lora?: LoraSpec } {
  if (o.lora && o.trainable) throw new DiffusionError('give `lora` or `trainable`, not both (with `lora` only the adapters train)');
  const existing = setup.config.lora;
  if (existing) {
    if (o.lora && !o.resume) throw new DiffusionError('the model already carries LoRA adapters: drop `lora` to train them further, or merge them first (mergeLora; export --merge)');
    return { setup, lora: existing };
  }
  if (!o.lora) return { setup };
  const opts: LoraOptions = { rank: o.lora.rank, alpha: o.lora.alpha, targets: o.lora.targets, seed: o.seed ?? 0 };
  // setup.config is the parsed config of both models (setup-from-model.ts wrote it): no metadata is parsed again.
  const { model, spec: lora } = insertLoraWith(setup.model, opts, setup.config);
  const trainModel = setup.trainModel === setup.model ? model : insertLoraWith(setup.trainModel, opts, setup.config).model;
  return { setup: { ...setup, model, trainModel, config: { ...setup.config, lora } }, lora };
}
