/**
 * The VAE encoder graph made deterministic before its session is created (pipeline.ts runs the
 * encoder and decoder sessions). Isomorphic: edits ONNX bytes with onnx-proto only.
 */
import { onnx } from '../../onnx/onnx-proto';
import { FileFormatError } from '../../core/errors';

/**
 * diffusers' ONNX vae_encoder returns `latent_dist.sample()`: mean + std * RandomNormalLike, an
 * unseeded draw, different on every run. Here each RandomNormalLike(x) becomes Sub(x, x), so the
 * encoder returns the mean (diffusers' `latent_dist.mode()`), and a seed gives the same image.
 * Lossless otherwise: the ModelProto is edited in place, every other field kept.
 */
export function encoderWithMeanLatents(bytes: Uint8Array, source: string): Uint8Array {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new FileFormatError(source, `not a valid ONNX model (${(e as Error).message})`);
  }
  let replaced = 0;
  for (const node of model.graph?.node ?? []) {
    if (node.opType !== 'RandomNormalLike' || (node.domain ?? '') !== '') continue;
    node.opType = 'Sub';
    const x = node.input?.[0];
    if (!x) throw new FileFormatError(source, `node ${node.name ?? ''} (RandomNormalLike) has no input`);
    node.input = [x, x];
    node.attribute = [];
    replaced++;
  }
  return replaced === 0 ? bytes : onnx.ModelProto.encode(model).finish();
}
