/**
 * Constants as `Constant` nodes, never initializers. Contract of every model.onnx built here: its
 * float initializers are exactly the trainable parameters (the step-graph builder turns them into
 * inputs; constants such as Resize scales or GroupNorm ones must stay constant for shape inference).
 */
import type { Builder, Value } from '../onnx/builder';
import { Tensor } from '../onnx/tensor';

/** A float32 constant (scalar for a number, 1-D for an array, or any Tensor). */
export function constant(b: Builder, v: number | number[] | Tensor): Value {
  const t = v instanceof Tensor ? v : typeof v === 'number' ? Tensor.scalar(v) : Tensor.float32([v.length], v);
  return b.op('Constant', [], { value: t });
}

/** A bool scalar constant (Dropout's training_mode). */
export function boolConstant(b: Builder, v: boolean): Value {
  return b.op('Constant', [], { value: new Tensor('bool', [], Uint8Array.of(v ? 1 : 0)) });
}
