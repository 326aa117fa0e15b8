import { DiffusionError } from '../core/errors';
import { Graph, Node } from './ir';
import { OP_RULES } from './infer-ops';
import { Known, knownFromTensor } from './known';

export * from './known';

/** Infers one node's outputs. Unknown ops yield unknown shapes (dtype of the first input). */
export function inferNode(node: Node, inputs: (Known | undefined)[], fresh: () => string): Known[] {
  if (node.domain && node.domain !== 'ai.onnx') return node.outputs.map(() => ({ dtype: inputs[0]?.dtype ?? 'float32' }));
  const rule = OP_RULES[node.opType];
  if (!rule) return node.outputs.map(() => ({ dtype: inputs[0]?.dtype ?? 'float32' }));
  try {
    return rule({ node, inputs, fresh });
  } catch (e) {
    if (e instanceof DiffusionError) throw e;
    throw new DiffusionError(`${node.opType} node '${node.name}': shape inference failed: ${(e as Error).message}`);
  }
}

/**
 * Infers dtypes and shapes of every value of a decoded graph (e.g. a PyTorch export), folding the
 * integer shape arithmetic so that Reshape targets resolve, symbolic batch dims included.
 */
export function inferGraph(graph: Graph): Map<string, Known> {
  const known = new Map<string, Known>();
  let counter = 0;
  const fresh = () => `?${counter++}`;
  for (const [name, t] of graph.initializers) known.set(name, knownFromTensor(t));
  for (const i of graph.inputs) known.set(i.name, { dtype: i.dtype, shape: i.shape });
  for (const node of graph.nodes) {
    const outs = inferNode(
      node,
      node.inputs.map((i) => (i ? known.get(i) : undefined)),
      fresh,
    );
    node.outputs.forEach((o, k) => {
      if (!o || !outs[k]) return;
      known.set(o, outs[k]);
    });
  }
  return known;
}
