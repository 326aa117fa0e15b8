import type { Builder, Value } from '../onnx/builder';
import { boolConstant, constant } from './constant';

/** SiLU / swish: x * sigmoid(x) (ONNX opset 17 has no Swish op). */
export function silu(b: Builder, x: Value): Value {
  return b.mul(x, b.sigmoid(x));
}

/**
 * Dropout with probability `ratio`, emitted only for training graphs: the model.onnx used for
 * sampling has no Dropout node at all (an identity), so no runtime has to honour training_mode.
 * The mask output is kept: the gradient is dY * mask / (1 - ratio). Masks come from ORT's own
 * generator (seeded per node), so a resumed run with dropout > 0 is not bit-identical.
 */
export function dropout(b: Builder, x: Value, ratio: number, training: boolean): Value {
  if (!training || ratio <= 0) return x;
  return b.node('Dropout', [x, constant(b, ratio), boolConstant(b, true)], { seed: { type: 'int', value: 0 } }, 2)[0];
}
