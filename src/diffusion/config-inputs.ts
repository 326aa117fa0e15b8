/** A model's config (metadata or --config) checked against the inputs its graph actually has. */
import type { ModelConfig } from './model-config';
import { ConfigError } from '../errors';

/** Each conditioning key and the graph input it implies (names per DESIGN.md). */
const IMPLIES: [keyof ModelConfig['conditioning'], string][] = [
  ['classes', 'class'],
  ['labels', 'labels'],
  ['condChannels', 'cond'],
  ['augment', 'aug'],
];

/** Throws naming the key when the config and the graph disagree about a conditioning input. */
export function checkConfigInputs(config: ModelConfig, inputs: readonly string[], source: string): void {
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
}
