/**
 * The one scheduler registry: a name -> an entry that makes the scheduler for the project's own
 * models (`fromModel`, over a model's config: createSampler's `sampler`) and/or for a diffusers
 * scheduler_config.json (`fromConfig`: a Stable Diffusion folder's `sampler`, or its `_class_name`).
 * Open: `registerScheduler('mine', { kinds: ['gaussian'], fromModel: (config, settings) => ... })`
 * adds one that createSampler, pipeline(dir) and `sample --sampler` then accept.
 */
import type { DiffusionKind } from '../../core/diffusion-config';
import { OptionError } from '../../core/errors';
import type { ModelConfig } from '../../core/model-config';
import { nearest } from '../../core/option-check';
import { isObj } from '../../core/schema';
import { ColdScheduler } from '../samplers/cold';
import { DdimModelScheduler } from '../samplers/ddim';
import { DdpmScheduler } from '../samplers/ddpm';
import { Dpmpp2mScheduler } from '../samplers/dpmpp2m';
import { EulerScheduler } from '../samplers/euler';
import { HeunScheduler } from '../samplers/heun';
import { ToyScheduler } from '../samplers/toy';
import { DdimScheduler } from './ddim';
import { DiffusersDdpmScheduler } from './ddpm';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep';
import { EulerAncestralScheduler } from './euler-ancestral';
import { EulerDiscreteScheduler } from './euler';
import { HeunDiscreteScheduler } from './heun';
import { LmsDiscreteScheduler } from './lms';
import { PndmScheduler } from './pndm';
import type { ModelScheduler, Scheduler, SchedulerEntry, SchedulerFactory, SchedulerSettings } from './types';

export type {
  ModelScheduler, ModelSchedulerFactory, NoiseSource, Scheduler, SchedulerEntry, SchedulerFactory, SchedulerSettings, StartOptions,
} from './types';
export { DdimScheduler, type DdimOptions } from './ddim';
export { EulerDiscreteScheduler, SigmaScheduler, type EulerOptions } from './euler';
export { EulerAncestralScheduler } from './euler-ancestral';
export { DpmSolverMultistepScheduler, type DpmSolverOptions } from './dpm-solver-multistep';
export { PndmScheduler } from './pndm';
export { DiffusersDdpmScheduler } from './ddpm';
export { HeunDiscreteScheduler, type HeunOptions } from './heun';
export { LmsDiscreteScheduler, type LmsOptions } from './lms';
export { alphasCumprod32 } from './common';

const KARRAS = 'it steps on the Karras sigma grid';

const registry = new Map<string, SchedulerEntry>([
  ['ddpm', {
    fromModel: (c, s) => DdpmScheduler.fromConfig(c, s), fromConfig: (j, s) => DiffusersDdpmScheduler.fromConfig(j, s),
    options: ['steps', 'spacing', 'variance', 'clipX0'],
  }],
  ['ddim', {
    fromModel: (c, s) => DdimModelScheduler.fromConfig(c, s), fromConfig: (j, s) => DdimScheduler.fromConfig(j, s),
    options: ['steps', 'eta', 'spacing', 'clipX0'],
  }],
  ['dpm++2m', {
    fromModel: (c, s) => Dpmpp2mScheduler.fromConfig(c, s),
    fromConfig: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: false, sde: false }),
    options: ['steps', 'spacing', 'clipX0'],
  }],
  ['dpm++2m-sde', {
    fromModel: (c, s) => Dpmpp2mScheduler.fromConfig(c, s, { sde: true }),
    fromConfig: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: false, sde: true }),
    options: ['steps', 'spacing', 'clipX0'],
  }],
  ['euler', {
    fromModel: (c, s) => EulerScheduler.fromConfig(c, s), fromConfig: (j, s) => EulerDiscreteScheduler.fromConfig(j, s, { karras: false }),
    options: ['steps', 'clipX0'], refuses: { spacing: KARRAS },
  }],
  ['heun', {
    fromModel: (c, s) => HeunScheduler.fromConfig(c, s), fromConfig: (j, s) => HeunDiscreteScheduler.fromConfig(j, s, { karras: false }),
    options: ['steps', 'clipX0'], refuses: { spacing: KARRAS },
  }],
  ['toy', { kinds: ['toy'], fromModel: (c, s) => ToyScheduler.fromConfig(c, s), options: ['steps', 'clipX0'] }],
  ['cold', { kinds: ['cold-blur'], fromModel: (c, s) => ColdScheduler.fromConfig(c, s), options: ['clipX0'], refuses: { steps: 'it restores all T levels' } }],
  ['euler-karras', { fromConfig: (j, s) => EulerDiscreteScheduler.fromConfig(j, s, { karras: true }) }],
  ['euler-ancestral', { fromConfig: (j, s) => EulerAncestralScheduler.fromConfig(j, s) }],
  ['dpm++2m-karras', { fromConfig: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: true, sde: false }) }],
  ['dpm++2m-sde-karras', { fromConfig: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s, { karras: true, sde: true }) }],
  ['pndm', { fromConfig: (j, s) => PndmScheduler.fromConfig(j, s) }],
  ['lms', { fromConfig: (j, s) => LmsDiscreteScheduler.fromConfig(j, s, { karras: false }) }],
]);

/** The scheduler a model of each kind gets when none is named. */
export const DEFAULT_SCHEDULER: Readonly<Record<DiffusionKind, string>> = { gaussian: 'ddim', toy: 'toy', 'cold-blur': 'cold' };

/** The settings createSampler hands to a scheduler (each is refused by name where a scheduler does not take it). */
export const SCHEDULER_SETTINGS: readonly (keyof SchedulerSettings)[] = ['steps', 'eta', 'spacing', 'variance', 'clipX0'];

/** diffusers class names -> factories that keep the file's own flags (e.g. use_karras_sigmas). */
const CLASSES: Record<string, SchedulerFactory> = {
  DDPMScheduler: (j, s) => DiffusersDdpmScheduler.fromConfig(j, s),
  DDIMScheduler: (j, s) => DdimScheduler.fromConfig(j, s),
  EulerDiscreteScheduler: (j, s) => EulerDiscreteScheduler.fromConfig(j, s),
  EulerAncestralDiscreteScheduler: (j, s) => EulerAncestralScheduler.fromConfig(j, s),
  DPMSolverMultistepScheduler: (j, s) => DpmSolverMultistepScheduler.fromConfig(j, s),
  PNDMScheduler: (j, s) => PndmScheduler.fromConfig(j, s),
  HeunDiscreteScheduler: (j, s) => HeunDiscreteScheduler.fromConfig(j, s),
  LMSDiscreteScheduler: (j, s) => LmsDiscreteScheduler.fromConfig(j, s),
};

/**
 * Adds (or replaces) a named scheduler; names are matched case-sensitively. A function is a
 * scheduler_config.json factory (Stable Diffusion folders): it replaces the name's `fromConfig`
 * only, so a built-in name keeps making the project's scheduler for its models. An entry replaces
 * the whole name and can make the scheduler of the project's own models (`fromModel`, for `kinds`).
 */
export function registerScheduler(name: string, entry: SchedulerFactory | SchedulerEntry): void {
  if (typeof name !== 'string' || name === '') throw new OptionError('name', 'must be a non-empty string');
  if (typeof entry === 'function') return void registry.set(name, { ...registry.get(name), fromConfig: entry });
  if (!isObj(entry) || (typeof entry.fromModel !== 'function' && typeof entry.fromConfig !== 'function')) {
    throw new OptionError('entry', `must be a function (config, source) => Scheduler or an object with fromModel and/or fromConfig, got ${typeof entry}`);
  }
  registry.set(name, { ...entry });
}

/** Removes a registered scheduler (a built-in one too); true if it was there. */
export function unregisterScheduler(name: string): boolean {
  return registry.delete(name);
}

/** The registered scheduler names: all of them, or those that apply to a model kind or to a diffusers scheduler_config.json. */
export function schedulerNames(of?: DiffusionKind | 'diffusers'): string[] {
  const all = [...registry.entries()];
  if (of === undefined) return all.map(([k]) => k);
  if (of === 'diffusers') return all.filter(([, e]) => e.fromConfig).map(([k]) => k);
  return all.filter(([, e]) => e.fromModel && (e.kinds ?? ['gaussian']).includes(of)).map(([k]) => k);
}

/**
 * The scheduler `name` (default: the kind's own) for one of the project's models, with the caller's
 * settings. A name that does not apply to the model's kind, and a setting the scheduler does not
 * take, are refused by name, before the scheduler checks the values of those it takes.
 */
export function modelScheduler(config: ModelConfig, name: string | undefined, settings: SchedulerSettings = {}): ModelScheduler {
  const kind = config.kind;
  const chosen = name ?? DEFAULT_SCHEDULER[kind];
  const entry = typeof chosen === 'string' ? registry.get(chosen) : undefined;
  const mine = schedulerNames(kind);
  if (!entry) {
    const near = typeof chosen === 'string' ? nearest(chosen, mine) : undefined;
    throw new OptionError('sampler', `must be one of ${mine.join('|')}, got ${JSON.stringify(chosen)}${near ? `; did you mean \`${near}\`?` : ''}`);
  }
  if (!entry.fromModel || !(entry.kinds ?? ['gaussian']).includes(kind)) {
    const use = mine.length === 1 ? mine[0] : `one of ${mine.join('|')}`;
    throw new OptionError('sampler', `"${chosen}" does not apply to a ${kind} model (use ${use})`);
  }
  if (entry.options) {
    for (const k of SCHEDULER_SETTINGS) {
      if (settings[k] === undefined || entry.options.includes(k)) continue;
      const why = entry.refuses?.[k];
      if (why) throw new OptionError(k, `does not apply to ${chosen} (${why})`);
      const owners = [...registry.entries()].filter(([, e]) => e.fromModel && e.options?.includes(k)).map(([n]) => n);
      throw new OptionError(k, owners.length === 0 ? `does not apply to ${chosen}`
        : `applies to the ${owners.join('|')} sampler${owners.length > 1 ? 's' : ''} only (not ${chosen})`);
    }
  }
  return entry.fromModel(config, settings);
}

/**
 * A scheduler from a scheduler_config.json object: by `name` when given (the `sampler` option),
 * else by the file's `_class_name`. Errors name the option or the file's key.
 */
export function createScheduler(json: unknown, source: string, name?: string): Scheduler {
  if (name !== undefined) {
    const e = registry.get(name);
    if (!e) throw new OptionError('sampler', `"${name}" is not a scheduler (expected one of ${schedulerNames('diffusers').join('|')})`);
    if (!e.fromConfig) {
      const names = schedulerNames('diffusers').join('|');
      throw new OptionError('sampler', `"${name}" does not apply to a diffusers scheduler_config.json (${source}) (expected one of ${names})`);
    }
    return e.fromConfig(json, source);
  }
  const cls = isObj(json) ? json._class_name : undefined;
  const classes = Object.keys(CLASSES).join('|');
  if (typeof cls !== 'string') throw new OptionError('sampler', `not given, and ${source} has no _class_name (expected one of ${classes})`);
  const f = CLASSES[cls];
  if (!f) throw new OptionError('sampler', `not given, and ${source}'s _class_name ${cls} is not supported (expected one of ${classes}, or pass sampler)`);
  return f(json, source);
}
