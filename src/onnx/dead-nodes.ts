import type { Graph } from './ir';

/** Value names read by subgraphs (If/Loop bodies read outer values by name). */
export function subgraphReads(graph: Graph): Set<string> {
  const names = new Set<string>();
  const visit = (g: Graph) => {
    for (const n of g.nodes) {
      for (const i of n.inputs) if (i) names.add(i);
      for (const a of Object.values(n.attrs)) {
        if (a.type === 'graph') visit(a.value);
        if (a.type === 'graphs') a.value.forEach(visit);
      }
    }
  };
  for (const n of graph.nodes) {
    for (const a of Object.values(n.attrs)) {
      if (a.type === 'graph') visit(a.value);
      if (a.type === 'graphs') a.value.forEach(visit);
    }
  }
  return names;
}

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
