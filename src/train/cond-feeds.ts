/**
 * Feeds of conditioning inputs of any name (config.conditioning.inputs) for one training step,
 * from the batch's per-image tensors, with conditioning dropout: with probability p an image's
 * inputs are all set to their null value (default 0), so the model also learns the unconditional
 * prediction that classifier-free guidance contrasts with (Ho & Salimans 2022, Algorithm 1).
 */
import { inputDims } from '../core/cond-inputs';
import { DiffusionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import type { Rng } from '../core/rng';
import type { Batch } from '../data/loader';
import { Tensor } from '../onnx/tensor';

export function condInputFeeds(
  batch: Batch, config: ModelConfig, extraInputs: readonly string[], rng: Rng, condDropout: number, nulls?: Record<string, Float32Array>,
): Record<string, Tensor> {
  const inputs = (config.conditioning.inputs ?? []).filter((i) => extraInputs.includes(i.name));
  if (inputs.length === 0) return {};
  const n = batch.size;
  // One draw per image, shared by all its inputs: the null condition is all of them null.
  const dropped = Array.from({ length: n }, () => condDropout > 0 && rng.uniform() < condDropout);
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const src = batch.inputs?.[input.name];
    if (!src) throw new DiffusionError(`${input.name}: the data gives no values for this input (use manifest:DIR data naming it)`);
    const values = Float32Array.from(src);
    const per = values.length / n;
    // A whole null tensor (captions: the empty prompt's embedding) wins over the scalar nullValue.
    const nullTensor = nulls?.[input.name];
    if (nullTensor && nullTensor.length !== per) throw new DiffusionError(`${input.name}: its null value has ${nullTensor.length} values, an image's ${per}`);
    dropped.forEach((d, i) => d && (nullTensor ? values.set(nullTensor, i * per) : values.fill(input.nullValue ?? 0, i * per, (i + 1) * per)));
    const dims = inputDims(input, n, values.length);
    feeds[input.name] = input.dtype === 'int64'
      ? new Tensor('int64', dims, BigInt64Array.from(values, (v) => BigInt(Math.round(v))))
      : new Tensor('float32', dims, values);
  }
  return feeds;
}
