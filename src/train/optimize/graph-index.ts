import type { Graph, Node } from '../../onnx/ir';

/** Who produces and who consumes each value, and which values leave the graph. */
export interface GraphIndex {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
  outputs: Set<string>;
}

export function indexGraph(graph: Graph): GraphIndex {
  return { producer: graph.producers(), consumers: graph.consumers(), outputs: new Set(graph.outputs.map((o) => o.name)) };
}

export { subgraphReads } from '../../onnx/dead-nodes';

/** The float contents of a Constant node's output, when `name` is one. */
export function constantValues(index: GraphIndex, name: string): number[] | undefined {
  const n = index.producer.get(name);
  if (!n || n.opType !== 'Constant' || n.domain !== '') return undefined;
  const a = n.attrs.value;
  return a?.type === 'tensor' && a.value.dtype.startsWith('float') ? a.value.toNumbers() : undefined;
}
