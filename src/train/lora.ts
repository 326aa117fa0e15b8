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
import { adapterFrom, encodeAdapter } from '../nn/lora';
import { Tensor } from '../onnx/tensor';
import type { ParamLayout } from './params';

export { LORA_TRAINABLE } from '../nn/lora';
export { applyLora } from './lora-setup';
export const ADAPTER_FILE = 'adapter.safetensors';

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
