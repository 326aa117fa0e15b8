/**
 * A model's config (metadata or --config) checked against the inputs its graph actually has, and
 * the graph's I/O roles: which input is the noisy sample, which the timestep (and in what dtype
 * and shape it is fed), which output the prediction. Roles come from the config's `roles` or the
 * names this project, diffusers and optimum use. Pure; no Node imports.
 */
import { ROLE_NAMES, type ModelConfig, type Roles } from '../core/model-config';
import { ConfigError, DiffusionError } from '../core/errors';
import { expectedFeeds } from '../core/feed-check';
import { BUILTIN_INPUTS, CondInput, inferKind } from '../core/cond-inputs';

/** Each conditioning key and the graph input it implies (names per docs/nn.md). */
const IMPLIES: [keyof ModelConfig['conditioning'], string][] = [
  ['classes', 'class'],
  ['labels', 'labels'],
  ['condChannels', 'cond'],
  ['augment', 'aug'],
];

/** An input or output as the graph declares it (ORT's inputMetadata, or our IR's ValueInfo). */
export interface DeclaredValue {
  name: string;
  /** ONNX element type as onnxruntime names it: 'float32', 'float16', 'int64', 'int32', ... */
  dtype: string;
  /** Dims; strings are symbolic. Undefined when the graph does not say. */
  shape?: readonly (number | string)[];
}

/** How the timestep is fed: its element type and whether it is [N], [1] or a scalar. */
export interface TimestepFeed {
  dtype: 'float32' | 'float16' | 'int64' | 'int32' | 'float64';
  form: 'batch' | 'one' | 'scalar';
}

/** A graph's roles and how each input is fed. */
export interface ModelIo {
  sample: string;
  timestep: string;
  prediction: string;
  timestepFeed: TimestepFeed;
  /** Every graph input as declared, by name. */
  declared: Record<string, DeclaredValue>;
}

const TIMESTEP_DTYPES: readonly TimestepFeed['dtype'][] = ['float32', 'float16', 'int64', 'int32', 'float64'];

/** `float32 [batch,sequence,32]`, as the graph declares a value. */
export function declaredText(v: DeclaredValue): string {
  return `${v.dtype} ${v.shape ? `[${v.shape.join(',')}]` : '[unknown shape]'}`;
}

function pickRole(role: keyof Roles, given: string | undefined, names: readonly string[], source: string, what: 'input' | 'output'): string {
  if (given !== undefined) {
    if (!names.includes(given)) throw new ConfigError(`${source}: roles.${role}`, `is '${given}' but the graph has no ${what} of that name (${what}s: ${names.join(', ')})`);
    return given;
  }
  const found = ROLE_NAMES[role].filter((n) => names.includes(n));
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new DiffusionError(`${source}: the graph has ${what}s ${found.map((n) => `'${n}'`).join(' and ')}; say which is the ${role} with "roles": {"${role}": "NAME"} in the config`);
  if (what === 'output' && names.length === 1) return names[0];
  throw new DiffusionError(`${source}: no ${what} is the ${role} (looked for ${ROLE_NAMES[role].join(', ')}; ${what}s: ${names.join(', ')}); name it with "roles": {"${role}": "NAME"} in the config`);
}

/** The timestep's feed from its declared type and shape: [N] (or a fixed batch), [1], or a scalar. */
export function timestepFeed(v: DeclaredValue, source: string): TimestepFeed {
  const dtype = TIMESTEP_DTYPES.find((d) => d === v.dtype);
  if (dtype === undefined) throw new DiffusionError(`${source}: timestep input '${v.name}' is ${declaredText(v)}; expected a float or integer type`);
  const s = v.shape;
  if (s === undefined) return { dtype, form: 'batch' };
  if (s.length === 0) return { dtype, form: 'scalar' };
  if (s.length !== 1) throw new DiffusionError(`${source}: timestep input '${v.name}' is ${declaredText(v)}; expected [N], [1] or a scalar`);
  return { dtype, form: s[0] === 1 ? 'one' : 'batch' };
}

/**
 * The roles of a graph's inputs and outputs, from the config's `roles` or the usual names.
 * Errors name the config key or list what the graph has.
 */
export function resolveIo(config: ModelConfig, inputs: readonly DeclaredValue[], outputs: readonly string[], source: string): ModelIo {
  const names = inputs.map((i) => i.name);
  const roles = config.roles ?? {};
  const sample = pickRole('sample', roles.sample, names, source, 'input');
  const timestep = pickRole('timestep', roles.timestep, names, source, 'input');
  if (sample === timestep) throw new ConfigError(`${source}: roles`, `the sample and the timestep are both '${sample}'`);
  const prediction = pickRole('prediction', roles.prediction, outputs, source, 'output');
  const declared = Object.fromEntries(inputs.map((i) => [i.name, i]));
  return { sample, timestep, prediction, timestepFeed: timestepFeed(declared[timestep], source), declared };
}

/**
 * The config with a description of every conditioning input the graph has and the config does not
 * describe: dtype and shape as the graph declares them (batch dim 'N'), kind from the rank. A
 * description the config gives is checked against the graph; it adds meaning and null value.
 */
export function withGraphInputs(config: ModelConfig, io: ModelIo, source: string): ModelConfig {
  const described = config.conditioning.inputs ?? [];
  const inputs: CondInput[] = [];
  for (const d of described) {
    const g = io.declared[d.name];
    if (g) checkAgainstGraph(d, g, source);
    inputs.push(d);
  }
  for (const v of Object.values(io.declared)) {
    if (v.name === io.sample || v.name === io.timestep || BUILTIN_INPUTS.includes(v.name) || described.some((d) => d.name === v.name)) continue;
    if (v.shape === undefined || v.shape.length === 0) {
      throw new DiffusionError(`${source}: input '${v.name}' is ${declaredText(v)}; describe it in the config's "inputs" (e.g. "${v.name}": "float32 [N,77,768]")`);
    }
    const dtype: CondInput['dtype'] = /^u?int|^bool/.test(v.dtype) ? 'int64' : 'float32';
    const shape = ['N', ...v.shape.slice(1)];
    inputs.push({ name: v.name, dtype, shape, kind: inferKind(dtype, shape) });
  }
  if (inputs.length === 0) return config;
  return { ...config, conditioning: { ...config.conditioning, inputs } };
}

function checkAgainstGraph(d: CondInput, g: DeclaredValue, source: string): void {
  const intGraph = /^u?int|^bool/.test(g.dtype);
  const mismatch = (intGraph !== (d.dtype === 'int64'))
    || (g.shape !== undefined && (g.shape.length !== d.shape.length
      || g.shape.some((dim, i) => i > 0 && typeof dim === 'number' && typeof d.shape[i] === 'number' && dim !== d.shape[i])));
  if (mismatch) {
    throw new ConfigError(`${source}: inputs.${d.name}`, `is ${d.dtype} [${d.shape.join(',')}] but the graph declares ${declaredText(g)}`);
  }
}

/**
 * Throws naming the key when the config and the graph disagree about an input. `sampleShape` is the
 * declared shape of the noisy input; `io` names the roles (default x and t).
 */
export function checkConfigInputs(
  config: ModelConfig, inputs: readonly string[], source: string, sampleShape?: readonly (number | string)[],
  io?: Pick<ModelIo, 'sample' | 'timestep'> & { declared?: ModelIo['declared'] },
): void {
  const sampleName = io?.sample ?? 'x';
  if (sampleShape && sampleShape.length === 4) {
    const [, c, h, w] = sampleShape;
    const want = config.image;
    const shown = `[${sampleShape.join(',')}]`;
    if (typeof c === 'number' && c !== want.channels) throw new ConfigError(`${source}: image.channels`, `is ${want.channels} but the graph's input '${sampleName}' is ${shown}`);
    for (const d of [h, w]) if (typeof d === 'number' && d !== want.size) throw new ConfigError(`${source}: image.size`, `is ${want.size} but the graph's input '${sampleName}' is ${shown}`);
  }
  for (const [key, input] of IMPLIES) {
    const v = config.conditioning[key];
    const set = v !== undefined && v !== false;
    if (set && !inputs.includes(input)) {
      throw new ConfigError(`${source}: conditioning.${key}`, `is ${JSON.stringify(v)} but the graph has no input '${input}' (inputs: ${inputs.join(', ')})`);
    }
    if (!set && inputs.includes(input)) {
      throw new ConfigError(`${source}: conditioning.${key}`, `is not set but the graph has an input '${input}'`);
    }
  }
  const known = Object.keys(expectedFeeds(config, io));
  const unknown = inputs.find((name) => !known.includes(name));
  if (unknown !== undefined) {
    const g = io?.declared?.[unknown];
    const example = g?.shape && g.shape.length > 0 ? `${/^u?int|^bool/.test(g.dtype) ? 'int64' : 'float32'} [${['N', ...g.shape.slice(1)].join(',')}]` : 'float32 [N,...]';
    const says = g ? `the graph declares ${declaredText(g)}; ` : '';
    throw new DiffusionError(`${source}: input '${unknown}' is not described by the config; add it to the config's "inputs" (${says}e.g. "${unknown}": "${example}"; see docs/fine-tuning.md in the onnx-diffusion package)`);
  }
  const missing = Object.keys(expectedFeeds(config, io)).find((name) => !inputs.includes(name));
  if (missing !== undefined && io) {
    throw new DiffusionError(`${source}: the config describes an input '${missing}' that the graph does not have (inputs: ${inputs.join(', ')})`);
  }
}
