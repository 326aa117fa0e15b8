/**
 * `onnx-diffusion/autodiff`: reverse-mode differentiation of ONNX graphs. `grad(builder, {of, wrt})`
 * appends the backward pass as ordinary ONNX nodes; one rule per op (docs/autodiff.md).
 */
export { grad, gradGraph, RULES, CONSTANT_INPUTS, unbroadcast, DEFAULT_CONV_GRAD } from '../autodiff';
export type { GradOptions, GradContext, GradRule, ConvGradOptions, InputGradient, WeightGradient } from '../autodiff';
