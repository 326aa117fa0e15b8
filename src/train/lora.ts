/**
 * LoRA in training: `train --lora RANK` inserts adapters into the model before the step graph is
 * built (nn/lora.ts: y + s B(A x) after each target's node), so the step graph's parameters,
 * optimizer state and outputs are A and B only; every other weight stays a frozen initializer of
 * the step graph, the same Tensor object the model reader gave (never copied). Checkpoints hold model.onnx with
 * the adapters in-graph (samples as is; `export --merge` folds them in) and adapter.safetensors.
 */
import { join } from 'node:path';
import { DiffusionError } from '../core/errors';
import type { LoraSpec } from '../core/model-config';
import { writeFileAtomic } from '../core/node/atomic-file';
import { adapterFrom, encodeAdapter, insertLoraWith, LoraOptions } from '../nn/lora';
import { Tensor } from '../onnx/tensor';
import type { TrainOptions } from './options';
import type { ParamLayout } from './params';
import type { Setup } from './setup';

export { LORA_TRAINABLE } from '../nn/lora';
export const ADAPTER_FILE = 'adapter.safetensors';

/**
 * The setup to train with LoRA when asked (a new Setup whose models carry adapters; the given one
 * is left as it was), or as given with the adapters a resumed or re-initialised model already
 * carries; `lora` is the spec, or undefined for full or partial fine-tuning.
 */
export function applyLora(setup: Setup, o: TrainOptions): { setup: Setup; lora?: LoraSpec } {
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

/** Writes OUT/adapter.safetensors from a flat vector of adapter values laid out by `layout`. */
export async function writeAdapterFile(out: string, spec: LoraSpec, layout: ParamLayout, flat: Float32Array): Promise<string> {
  const slots = new Map(layout.slots.map((s) => [s.name, s]));
  const adapter = adapterFrom(spec, (name) => {
    const s = slots.get(name);
    if (!s) throw new DiffusionError(`LoRA: '${name}' is not a trained parameter`);
    return new Tensor('float32', [...s.dims], flat.slice(s.offset, s.offset + s.size));
  });
  const file = join(out, ADAPTER_FILE);
  await writeFileAtomic(file, encodeAdapter(adapter));
  return file;
}
