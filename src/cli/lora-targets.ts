/**
 * `inspect FILE --lora-targets PATTERN`: what a `--lora-targets` pattern picks in a model, before
 * training: each target's module key (the adapter file's name for it), its weight, node, layout
 * and shape, and the adapter's parameter count per rank.
 */
import { findLoraTargets, LORA_PRESETS, WeightInfo } from '../nn/lora';
import type { Model } from '../onnx/ir';

export interface LoraTargetsReport {
  pattern: string;
  targets: { key: string; weight: string; node: string; layout: string; dims: number[]; inFeatures: number; outFeatures: number }[];
  /** Adapter values per unit of rank: sum of (in + out) over the targets. */
  parametersPerRank: number;
}

/** `external`: the weights a header-only read left in external data (name, dtype, dims), so that they count too. */
export function loraTargetsReport(model: Model, pattern: string, external: readonly ({ tensor: string } & WeightInfo)[] = []): LoraTargetsReport {
  const targets = findLoraTargets(model.graph, pattern, new Map(external.map((e) => [e.tensor, e]))).map((c) => ({ key: c.key, weight: c.weight, node: c.node, layout: c.layout, dims: c.dims, inFeatures: c.inF, outFeatures: c.outF }));
  return { pattern, targets, parametersPerRank: targets.reduce((s, t) => s + t.inFeatures + t.outFeatures, 0) };
}

export function formatLoraTargets(r: LoraTargetsReport): string {
  const lines = [`--lora-targets '${r.pattern}' picks ${r.targets.length} weight${r.targets.length === 1 ? '' : 's'} (${r.parametersPerRank.toLocaleString('en-US')} adapter values per unit of rank):`];
  for (const t of r.targets) lines.push(`  ${t.key}  ${t.layout} [${t.dims.join(', ')}]  ${t.weight}${t.node ? `  (${t.node})` : ''}`);
  if (r.targets.length === 0) lines.push(`  (none; presets: ${Object.keys(LORA_PRESETS).join(', ')}; globs match module keys, weight names and node names)`);
  return lines.join('\n');
}
