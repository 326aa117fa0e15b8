import type { Graph } from '../../onnx/ir';
import { subgraphReads } from './graph-index';

/**
 * Dead-node elimination: drops nodes none of whose outputs reaches a graph output (a reverse sweep
 * over the topological order). ONNX ops have no side effects, so nothing else keeps a node alive.
 */
export function eliminateDeadNodes(graph: Graph): number {
  const live = new Set<string>([...graph.outputs.map((o) => o.name), ...subgraphReads(graph)]);
  const kept = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k];
    if (!n.outputs.some((o) => o && live.has(o))) continue;
    kept.push(n);
    for (const i of n.inputs) if (i) live.add(i);
  }
  const removed = graph.nodes.length - kept.length;
  graph.nodes = kept.reverse();
  return removed;
}
