/**
 * Checks model feeds against the ModelConfig before ONNX Runtime sees them, so a wrong input
 * gives `cond: expected [N,1,28,28], got [2,1,14,14]` instead of an ORT shape error. Pure.
 */
import type { ModelConfig } from './model-config';
import { DiffusionError } from './errors';
import { howToGive } from './cond-inputs';

/** What the check needs of a feed: our Tensor qualifies, and so does a plain description. */
export interface FeedInfo {
  /** An ONNX dtype name as onnx/tensor spells it ('float32', 'int64', ...). */
  dtype: string;
  dims: readonly number[];
  data: ArrayLike<number | bigint>;
}

interface Expected {
  dtype: 'float32' | 'int64';
  /** 'N' = the batch, taken from x; other strings are free dims (any size). */
  shape: (number | string)[];
  /** How to give the input, for a missing one (conditioning inputs of any name). */
  how?: string;
}

/** The graph names of the noisy input and the timestep (ours: x and t; diffusers': sample and timestep). */
export interface FeedRoles {
  sample: string;
  timestep: string;
}

/** The inputs a model with this config takes, in order; `roles` names the first two. */
export function expectedFeeds(config: ModelConfig, roles: FeedRoles = { sample: 'x', timestep: 't' }): Record<string, Expected> {
  const { channels: c, size: s } = config.image;
  const cond = config.conditioning;
  const e: Record<string, Expected> = {
    [roles.sample]: { dtype: 'float32', shape: ['N', c, s, s] },
    [roles.timestep]: { dtype: 'int64', shape: ['N'] },
  };
  if (cond.classes) e.class = { dtype: 'int64', shape: ['N'] };
  if (cond.labels) e.labels = { dtype: 'float32', shape: ['N', cond.labels] };
  if (cond.condChannels) e.cond = { dtype: 'float32', shape: ['N', cond.condChannels, s, s] };
  if (cond.augment) e.aug = { dtype: 'int64', shape: ['N'] };
  for (const i of cond.inputs ?? []) e[i.name] = { dtype: i.dtype, shape: i.shape, how: howToGive(i.name) };
  return e;
}

const fmt = (dims: readonly (number | string)[]): string => `[${dims.join(',')}]`;

/**
 * Throws a DiffusionError naming the first bad feed: missing, unexpected, wrong dtype, wrong
 * shape (all batch dims must equal x's), or a class id outside [0, classes] (classes = null class).
 */
export function checkFeeds(config: ModelConfig, feeds: Record<string, FeedInfo>, roles: FeedRoles = { sample: 'x', timestep: 't' }): void {
  const expected = expectedFeeds(config, roles);
  for (const name of Object.keys(feeds)) {
    if (!(name in expected)) throw new DiffusionError(`${name}: not an input of this model (inputs: ${Object.keys(expected).join(', ')})`);
  }
  const x = feeds[roles.sample];
  let batch: number | undefined = x && x.dims.length > 0 ? x.dims[0] : undefined;
  for (const [name, e] of Object.entries(expected)) {
    const f = feeds[name];
    if (!f) throw new DiffusionError(`${name}: missing input, expected ${e.dtype} ${fmt(e.shape)}${e.how ? `; ${e.how}` : ''}`);
    if (f.dtype !== e.dtype) throw new DiffusionError(`${name}: expected ${e.dtype}, got ${f.dtype}`);
    batch ??= f.dims[0];
    const ok = f.dims.length === e.shape.length && e.shape.every((d, i) => (d === 'N' ? f.dims[i] === batch : typeof d === 'string' || f.dims[i] === d));
    if (!ok) {
      const which = name === roles.sample ? '' : ` (N = ${batch} from ${roles.sample})`;
      throw new DiffusionError(`${name}: expected ${fmt(e.shape)}${which}, got ${fmt(f.dims)}`);
    }
  }
  const classes = config.conditioning.classes;
  if (classes && feeds.class) {
    const ids = Array.from(feeds.class.data, Number);
    const bad = ids.find((v) => v < 0 || v > classes);
    if (bad !== undefined) throw new DiffusionError(`class: id ${bad} out of range [0, ${classes}] (${classes} is the null class)`);
  }
}
