/** A model's config (metadata or --config) checked against the inputs its graph actually has. */
import type { ModelConfig } from '../core/model-config';
import { ConfigError, DiffusionError } from '../core/errors';
import { expectedFeeds } from '../core/feed-check';

/** Each conditioning key and the graph input it implies (names per docs/nn.md). */
const IMPLIES: [keyof ModelConfig['conditioning'], string][] = [
  ['classes', 'class'],
  ['labels', 'labels'],
  ['condChannels', 'cond'],
  ['augment', 'aug'],
];

/** Throws naming the key when the config and the graph disagree about a conditioning input. */
export function checkConfigInputs(config: ModelConfig, inputs: readonly string[], source: string, xShape?: readonly (number | string)[]): void {
  if (xShape && xShape.length === 4) {
    const [, c, h, w] = xShape;
    const want = config.image;
    if (typeof c === 'number' && c !== want.channels) throw new ConfigError(`${source}: image.channels`, `is ${want.channels} but the graph's input 'x' has ${c} channels`);
    for (const d of [h, w]) if (typeof d === 'number' && d !== want.size) throw new ConfigError(`${source}: image.size`, `is ${want.size} but the graph's input 'x' is ${h}x${w}`);
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
  const known = Object.keys(expectedFeeds(config));
  const unknown = inputs.find((name) => !known.includes(name));
  if (unknown !== undefined) {
    throw new DiffusionError(`${source}: input '${unknown}' is not described by the config; add it to the config's "inputs" (e.g. "${unknown}": "float32 [N,4,16]"; see docs/fine-tuning.md in the onnx-diffusion package)`);
  }
}
