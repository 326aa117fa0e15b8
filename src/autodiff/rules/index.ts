import type { GradRule } from './types';
import * as conv from './conv';
import * as einsum from './einsum';
import * as elementwise from './elementwise';
import * as matmul from './matmul';
import * as misc from './misc';
import * as norm from './norm';
import * as pool from './pool';
import * as reduce from './reduce';
import * as shape from './shape';
import * as unary from './unary';

export type { GradContext, GradRule, GradRuleOptions } from './types';

/** Op type -> gradient rule (default ONNX domain, opset 17 semantics). */
export const RULES: Record<string, GradRule> = {
  ...pick(elementwise, ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Mean', 'Min', 'Max']),
  ...pick(unary, ['Neg', 'Identity', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Abs', 'Tanh', 'Sigmoid', 'Relu', 'LeakyRelu', 'Erf', 'Sin', 'Cos', 'Cast']),
  ...pick(matmul, ['MatMul', 'Gemm']),
  ...pick(conv, ['Conv', 'ConvTranspose']),
  ...pick(norm, ['InstanceNormalization', 'LayerNormalization', 'Softmax', 'LogSoftmax']),
  ...pick(reduce, ['ReduceSum', 'ReduceMean', 'ReduceSumSquare']),
  ...pick(shape, ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Expand', 'Concat', 'Split', 'Slice', 'Gather', 'Pad', 'Resize']),
  ...pick(pool, ['AveragePool', 'MaxPool']),
  ...pick(einsum, ['Einsum']),
  ...pick(misc, ['Where', 'Clip', 'Dropout']),
};

/**
 * Float inputs treated as constants (never differentiated): scales, bounds, ratios, pad values.
 * Integer and bool inputs (shapes, axes, indices, conditions) are constants by their dtype, and
 * piecewise-constant ops (Sign, Floor, ...) have zero gradient, so their input is constant too.
 */
export const CONSTANT_INPUTS: Record<string, number[]> = {
  Resize: [1, 2],
  Clip: [1, 2],
  Pad: [2],
  Dropout: [1],
  Where: [0],
  Sign: [0],
  Floor: [0],
  Ceil: [0],
  Round: [0],
};

function pick<M extends Record<string, unknown>>(module: M, names: (keyof M & string)[]): Record<string, GradRule> {
  return Object.fromEntries(names.map((n) => [n, module[n] as GradRule]));
}
