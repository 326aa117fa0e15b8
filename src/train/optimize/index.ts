/**
 * The step-graph optimiser: passes over the ONNX IR that run after `grad` (and the optimizer
 * update) and before ONNX Runtime sees the graph. Each pass is one file, returns how many rewrites
 * it made, and keeps the graph's outputs: bit for bit, except where its doc says it reorders float
 * ops. tools/profile-step.ts shows what each one is worth (docs/autodiff.md).
 */
import type { Graph } from '../../onnx/ir';
import { eliminateCommonSubexpressions } from './cse';
import { eliminateDeadNodes } from './dead-nodes';
import { fuseSiluBackward } from './silu-backward';

export { eliminateCommonSubexpressions } from './cse';
export { eliminateDeadNodes } from './dead-nodes';
export { fuseSiluBackward } from './silu-backward';

export interface OptimizePass {
  name: string;
  run: (graph: Graph) => number;
}

/** In order: merge duplicates first (patterns then see one node per value), fuse, then sweep. */
export const STEP_GRAPH_PASSES: OptimizePass[] = [
  { name: 'cse', run: eliminateCommonSubexpressions },
  { name: 'silu-backward', run: fuseSiluBackward },
  { name: 'dead-nodes', run: eliminateDeadNodes },
];

/** Runs the passes over `graph` in place; returns rewrites per pass. */
export function optimizeStepGraph(graph: Graph, passes: OptimizePass[] = STEP_GRAPH_PASSES): Record<string, number> {
  const stats: Record<string, number> = {};
  for (const p of passes) stats[p.name] = p.run(graph);
  // value_info of values that no longer exist would only mislead readers of the file.
  const produced = new Set(graph.nodes.flatMap((n) => n.outputs));
  for (const name of [...graph.valueInfo.keys()]) if (!produced.has(name)) graph.valueInfo.delete(name);
  return stats;
}
