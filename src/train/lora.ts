/**
 * LoRA in training: `train --lora RANK` inserts adapters into the model before the step graph is
 * built (nn/lora.ts), so the step graph's parameters, optimizer state and outputs are A and B only;
 * every other weight stays a frozen initializer of the step graph. Checkpoints hold model.onnx with
 * the adapters in-graph (samples as is; `export --merge` folds them in) and adapter.safetensors.
 */
import { join } from 'node:path';
import { DiffusionError } from '../core/errors';
import type { LoraSpec } from '../core/model-config';
import { writeFileAtomic } from '../image/atomic';
import { adapterFrom, encodeAdapter, insertLora, LoraOptions, loraSpecOf } from '../nn/lora';
import { Tensor } from '../onnx/tensor';
import type { TrainOptions } from './options';
import type { ParamLayout } from './params';
import type { Setup } from './setup';

export { LORA_TRAINABLE } from '../nn/lora';
export const ADAPTER_FILE = 'adapter.safetensors';

/**
 * Adds adapters to the setup's models when asked (or finds them in a resumed or re-initialised
 * model); returns the spec, or undefined for full or partial fine-tuning.
 */
export function applyLora(setup: Setup, o: TrainOptions): LoraSpec | undefined {
  if (o.lora && o.trainable) throw new DiffusionError('give `lora` or `trainable`, not both (with `lora` only the adapters train)');
  const existing = setup.config.lora;
  if (existing) {
    if (o.lora && !o.resume) throw new DiffusionError('the model already carries LoRA adapters: drop `lora` to train them further, or merge them first (mergeLora; export --merge)');
    return existing;
  }
  if (!o.lora) return undefined;
  const opts: LoraOptions = { rank: o.lora.rank, alpha: o.lora.alpha, targets: o.lora.targets, seed: o.seed ?? 0 };
  const model = insertLora(setup.model, opts);
  setup.trainModel = setup.trainModel === setup.model ? model : insertLora(setup.trainModel, opts);
  setup.model = model;
  setup.config = { ...setup.config, lora: loraSpecOf(model)! };
  return setup.config.lora;
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
