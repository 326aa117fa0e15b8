import { DiffusionError } from '../core/errors';
import { Graph, Node } from './ir';

/**
 * Reorders graph.nodes topologically (Kahn's algorithm, stable: nodes keep their relative order
 * when dependencies allow). Graph transforms append producers after consumers; ONNX wants order.
 */
export function sortTopologically(graph: Graph): void {
  const available = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys(), '']);
  const producerOf = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producerOf.set(o, n);
  // Values of enclosing scopes (subgraph inputs) have no producer here: treat them as available.
  for (const n of graph.nodes) for (const i of n.inputs) if (!producerOf.has(i)) available.add(i);
  const done = new Set<Node>();
  const out: Node[] = [];
  let pending = graph.nodes;
  while (pending.length > 0) {
    const next: Node[] = [];
    for (const n of pending) {
      if (n.inputs.every((i) => available.has(i))) {
        out.push(n);
        done.add(n);
        for (const o of n.outputs) available.add(o);
      } else next.push(n);
    }
    if (next.length === pending.length) {
      const n = next[0];
      throw new DiffusionError(`graph '${graph.name}' has a cycle or a missing value at ${n.opType} node '${n.name}'`);
    }
    pending = next;
  }
  graph.nodes = out;
}
