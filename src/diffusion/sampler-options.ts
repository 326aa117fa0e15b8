/**
 * The option tables of the sampling entries (createSampler, a generator/pipeline call) and the
 * checks that need the model: class ids within its classes, labels only for a labels model, no
 * more class ids than images. Used at the boundary, before anything runs (core/option-check.ts).
 */
import { OptionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import { checkOptions, type OptionRule, type OptionSpec } from '../core/option-check';
import type { CreateSamplerOptions } from './sampler';

/**
 * createSampler's options: a rule for every key of CreateSamplerOptions (a new option does not
 * compile without one). The scheduler's settings (sampler, steps, eta, spacing, variance, clipX0)
 * are checked once, by the scheduler registry and the scheduler (schedulers/index.ts
 * modelScheduler), which knows the model's kind and the registered names.
 */
export const SAMPLER_OPTIONS: Readonly<Record<keyof CreateSamplerOptions, OptionRule>> = {
  sampler: { kind: 'string' },
  steps: { kind: 'any' },
  eta: { kind: 'any' },
  seed: { kind: 'integer' },
  guidance: { kind: 'number', min: 0 },
  classes: { kind: 'numbers', integer: true, min: 0 },
  labels: { kind: 'numbers' },
  cond: { kind: 'array-like' },
  inputs: { kind: 'object' },
  augLevel: { kind: 'integer', min: 0 },
  clipX0: { kind: 'any' },
  spacing: { kind: 'any' },
  variance: { kind: 'any' },
  batch: { kind: 'integer', min: 1 },
  latents: { kind: 'array-like' },
  image: { kind: 'any' },
  strength: { kind: 'number', min: 0, max: 1 },
};

/** One generator (pipeline) call: createSampler's options, the count and sample()'s callbacks. */
export const GENERATE_OPTIONS: OptionSpec = {
  ...SAMPLER_OPTIONS,
  n: { kind: 'integer', min: 1 },
  onStep: { kind: 'function' },
  signal: { kind: 'signal' },
};

/** The model-dependent checks of createSampler's options. */
export function checkSamplerOptions(config: ModelConfig, options: object | undefined, entry = 'createSampler'): void {
  checkOptions(options, entry === 'createSampler' ? SAMPLER_OPTIONS : GENERATE_OPTIONS, entry);
  const o = (options ?? {}) as { classes?: number | number[]; labels?: unknown };
  const cc = config.conditioning;
  if (o.labels !== undefined && cc.labels === undefined) {
    const has = cc.classes !== undefined ? ` (it is class-conditional: pass \`classes\`)` : '';
    throw new OptionError('labels', `given but the model takes no labels${has}`);
  }
  if (o.classes !== undefined && cc.classes !== undefined) {
    const bad = (typeof o.classes === 'number' ? [o.classes] : Array.from(o.classes)).find((k) => k >= cc.classes!);
    if (bad !== undefined) throw new OptionError('classes', `ids must be integers in [0, ${cc.classes - 1}] (the model has ${cc.classes} classes), got ${bad}`);
  }
}

/** `classes` as a list may not hold more ids than there are images. */
export function checkClassCount(options: { classes?: number | number[] } | undefined, n: number): void {
  const k = options?.classes;
  if (k !== undefined && typeof k !== 'number' && k.length > n) {
    throw new OptionError('classes', `has ${k.length} class ids for ${n} image${n === 1 ? '' : 's'} (give one id, or at most n)`);
  }
}
