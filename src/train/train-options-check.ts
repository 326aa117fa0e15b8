/**
 * train()'s option table (core/option-check.ts): unknown keys with the nearest known one, types and
 * ranges, each an OptionError naming the option, before a run folder is touched. Typed as a record
 * over every key of TrainOptions, so an option added there does not compile until it has a rule.
 */
import type { OptionRule } from '../core/option-check';
import { checkOptions } from '../core/option-check';
import type { TrainOptions } from './options';

export const TRAIN_OPTIONS: Readonly<Record<keyof TrainOptions, OptionRule>> = {
  recipe: { kind: 'any' },
  init: { kind: 'string' },
  config: { kind: 'any' },
  resume: { kind: 'string' },
  overwrite: { kind: 'boolean' },
  data: { kind: 'string' },
  steps: { kind: 'integer', min: 1 },
  epochs: { kind: 'number', gt: 0 },
  batch: { kind: 'integer', min: 1 },
  lr: { kind: 'number', gt: 0 },
  warmup: { kind: 'integer', min: 0 },
  lrDecay: { kind: 'string', oneOf: ['cosine', 'constant'] },
  weightDecay: { kind: 'number', min: 0 },
  emaDecay: { kind: 'number', min: 0, max: 1 },
  gradClip: { kind: 'number', min: 0 },
  prediction: { kind: 'string', oneOf: ['eps', 'x0', 'v'] },
  trainable: { kind: 'string' },
  lora: { kind: 'object' },
  minSnrGamma: { kind: 'number', gt: 0 },
  recompute: { kind: 'boolean' },
  frozenByReference: { kind: 'boolean' },
  seed: { kind: 'integer' },
  device: { kind: 'string', oneOf: ['cpu', 'cuda'] },
  deviceId: { kind: 'integer', min: 0 },
  threads: { kind: 'integer', min: 1 },
  out: { kind: 'string' },
  saveEvery: { kind: 'integer', min: 0 },
  sampleEvery: { kind: 'integer', min: 0 },
  sampleN: { kind: 'integer', min: 1 },
  evalEvery: { kind: 'integer', min: 0 },
  evalN: { kind: 'integer', min: 1 },
  logEvery: { kind: 'integer', min: 1 },
  overfitBatch: { kind: 'integer', min: 1 },
  flip: { kind: 'boolean' },
  tRange: { kind: 'numbers', integer: true, min: 0 },
  condDropout: { kind: 'number', min: 0, max: 1 },
  resolution: { kind: 'integer', min: 1 },
  samplePrompts: { kind: 'any' },
  onEncode: { kind: 'function' },
  onStep: { kind: 'function' },
  onEval: { kind: 'function' },
  signal: { kind: 'signal' },
};

export function checkTrainOptions(o: unknown): void {
  checkOptions(o, TRAIN_OPTIONS, 'train()');
}
