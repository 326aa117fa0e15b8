/**
 * The scheduler registry: a name (or a diffusers `_class_name`) -> a factory over a
 * scheduler_config.json object. Open: `registerScheduler('mine', (json, source) => ...)` adds one,
 * and `pipeline(dir)` / `sample --sampler` then accept it.
 */
import { OptionError } from '../../core/errors';
import { isObj } from '../../core/schema';
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep';
import { EulerAncestralScheduler } from './euler-ancestral';
import { EulerDiscreteScheduler } from './euler';
import { PndmScheduler } from './pndm';
import type { SchedulerFactory, Scheduler } from './types';

export type { NoiseSource, Scheduler, SchedulerFactory } from './types';
export { DdimScheduler, type DdimOptions } from './ddim';
export { EulerDiscreteScheduler, SigmaScheduler, type EulerOptions } from './euler';
export { EulerAncestralScheduler } from './euler-ancestral';
export { DpmSolverMultistepScheduler, type DpmSolverOptions } from './dpm-solver-multistep';
export { PndmScheduler } from './pndm';
export { alphasCumprod32 } from './common';

const registry = new Map<string, SchedulerFactory>([
  ['ddim', (j, s) => DdimScheduler.fromConfig(j, s)],
  ['euler', (j, s) => EulerDiscreteScheduler.fromConfig(j, s, { karras: false })],
  ['euler-karras', (j, s) => EulerDiscreteScheduler.fromConfig(j, s, { karras: true })],
  ['euler-ancestral', (j, s) => EulerAncestralScheduler.fromConfig(j, s)],
  ['dpm++2m', (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: false })],
  ['dpm++2m-karras', (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: true })],
  ['pndm', (j, s) => PndmScheduler.fromConfig(j, s)],
]);

/** diffusers class names -> factories that keep the file's own flags (e.g. use_karras_sigmas). */
const CLASSES: Record<string, SchedulerFactory> = {
  DDIMScheduler: (j, s) => DdimScheduler.fromConfig(j, s),
  EulerDiscreteScheduler: (j, s) => EulerDiscreteScheduler.fromConfig(j, s),
  EulerAncestralDiscreteScheduler: (j, s) => EulerAncestralScheduler.fromConfig(j, s),
  DPMSolverMultistepScheduler: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s),
  PNDMScheduler: (j, s) => PndmScheduler.fromConfig(j, s),
};

/** Adds (or replaces) a named scheduler; names are matched case-sensitively. */
export function registerScheduler(name: string, factory: SchedulerFactory): void {
  if (typeof name !== 'string' || name === '') throw new OptionError('name', 'must be a non-empty string');
  if (typeof factory !== 'function') throw new OptionError('factory', `must be a function (config, source) => Scheduler, got ${typeof factory}`);
  registry.set(name, factory);
}

/** The registered scheduler names. */
export function schedulerNames(): string[] {
  return [...registry.keys()];
}

/**
 * A scheduler from a scheduler_config.json object: by `name` when given (the `sampler` option),
 * else by the file's `_class_name`. Errors name the option or the file's key.
 */
export function createScheduler(json: unknown, source: string, name?: string): Scheduler {
  if (name !== undefined) {
    const f = registry.get(name);
    if (!f) throw new OptionError('sampler', `"${name}" is not a scheduler (expected one of ${schedulerNames().join('|')})`);
    return f(json, source);
  }
  const cls = isObj(json) ? json._class_name : undefined;
  if (typeof cls !== 'string') throw new OptionError('sampler', `not given, and ${source} has no _class_name (expected one of ${Object.keys(CLASSES).join('|')})`);
  const f = CLASSES[cls];
  if (!f) throw new OptionError('sampler', `not given, and ${source}'s _class_name ${cls} is not supported (expected one of ${Object.keys(CLASSES).join('|')}, or pass sampler)`);
  return f(json, source);
}
