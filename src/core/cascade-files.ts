/**
 * The two multi-model files: a cascade (stages of super-resolution models) and an ensemble of
 * timestep experts. Their structure is checked here (paths relative to the file, not the models
 * themselves: diffusion/pipelines checks that the models fit together). Pure.
 */
import { SAMPLER_NAMES, SamplerName } from './diffusion-config';
import { Checker } from './schema';

/** One stage of a cascade file; `model` is relative to the file. */
export interface CascadeStage {
  model: string;
  /** Gaussian models' sampler (default ddim): a built-in name or one added with registerScheduler. */
  sampler?: SamplerName | (string & {});
  steps?: number;
  eta?: number;
  /** Noise-augmentation timestep of this stage's condition (stages > 0; default 0). */
  augLevel?: number;
}

export interface CascadeSpec {
  stages: CascadeStage[];
}

export interface ExpertEntry {
  /** model.onnx path, relative to the experts file. */
  model: string;
  /** Inclusive timestep range the expert owns. */
  tRange: [number, number];
}

export interface ExpertsSpec {
  experts: ExpertEntry[];
}

const STAGE_KEYS = ['model', 'sampler', 'steps', 'eta', 'augLevel'] as const;

/**
 * Checks a cascade file's structure (not the models); errors name the file and key. `samplers`
 * are the names a stage may give (default: the built-in ones); loadCascade passes the scheduler
 * registry's names for gaussian models, so a name added with registerScheduler is accepted.
 */
export function parseCascade(obj: unknown, file = 'cascade.json', samplers: readonly string[] = SAMPLER_NAMES): CascadeSpec {
  const c: Checker = new Checker(file);
  const o = c.object(obj, '', ['stages'], 'a JSON object {"stages": [...]}');
  const stages = c.array(o.stages, 'stages', 'a non-empty array of stages').map((v, i): CascadeStage => {
    const at = `stages[${i}]`;
    const s = c.object(v, at, STAGE_KEYS, 'an object {"model": ..., "sampler": ..., "steps": ...}');
    const stage: CascadeStage = { model: c.string(s.model, `${at}.model`, 'a model path (relative to the cascade file)') };
    if (s.sampler !== undefined) stage.sampler = c.oneOf(s.sampler, `${at}.sampler`, samplers);
    if (s.steps !== undefined) stage.steps = c.int(s.steps, `${at}.steps`, 1);
    if (s.eta !== undefined) stage.eta = c.inRange(s.eta, `${at}.eta`, '[0, 1]');
    if (s.augLevel !== undefined) {
      if (i === 0) c.fail(`${at}.augLevel`, 'the first stage has no condition to augment');
      stage.augLevel = c.int(s.augLevel, `${at}.augLevel`, 0);
    }
    return stage;
  });
  return { stages };
}

/** The cascade file's text (stable key order; parseCascade(JSON.parse(x)) round-trips). */
export function serializeCascade(spec: CascadeSpec): string {
  const ordered = spec.stages.map((s) => Object.fromEntries(STAGE_KEYS.filter((k) => s[k] !== undefined).map((k) => [k, s[k]])));
  return `${JSON.stringify({ stages: ordered }, null, 2)}\n`;
}

/** Checks an experts file's structure (not coverage, which needs T); errors name the file and key. */
export function parseExperts(obj: unknown, file = 'experts.json'): ExpertsSpec {
  const c: Checker = new Checker(file);
  const o = c.object(obj, '', ['experts'], 'a JSON object {"experts": [...]}');
  const experts = c.array(o.experts, 'experts', 'a non-empty array of experts').map((v, i): ExpertEntry => {
    const at = `experts[${i}]`;
    const e = c.object(v, at, ['model', 'tRange'], 'an object {"model": ..., "tRange": [lo, hi]}');
    const model = c.string(e.model, `${at}.model`, 'a model path (relative to the experts file)');
    const r = e.tRange;
    if (!Array.isArray(r) || r.length !== 2 || !r.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0) || r[0] > r[1]) {
      c.fail(`${at}.tRange`, `expected [lo, hi] with integers 0 <= lo <= hi, got ${JSON.stringify(r)}`);
    }
    return { model, tRange: [r[0], r[1]] };
  });
  return { experts };
}

export function serializeExperts(spec: ExpertsSpec): string {
  return `${JSON.stringify({ experts: spec.experts.map((e) => ({ model: e.model, tRange: [...e.tRange] })) }, null, 2)}\n`;
}
