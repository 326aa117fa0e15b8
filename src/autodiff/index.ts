export { grad, gradGraph } from './grad';
export type { GradOptions } from './grad';
export { RULES, CONSTANT_INPUTS } from './rules';
export type { GradContext, GradRule } from './rules';
export { unbroadcast } from './helpers';
export { DEFAULT_CONV_GRAD } from './rules/conv';
export type { ConvGradOptions, InputGradient, WeightGradient } from './rules/conv';
