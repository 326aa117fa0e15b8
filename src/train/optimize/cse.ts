import type { Attribute, Graph, Node } from '../../onnx/ir';
import { subgraphReads } from './graph-index';

/** Ops whose outputs differ between two calls with the same inputs. */
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'Dropout']);

function attrKey(a: Attribute): string | undefined {
  switch (a.type) {
    case 'tensor':
      return `${a.value.dtype}[${a.value.dims.join(',')}]${Array.from(a.value.data as ArrayLike<number | bigint>, String).join(',')}`;
    case 'tensors':
    case 'graph':
    case 'graphs':
      return undefined;
    default:
      return `${a.type}:${JSON.stringify(a.value)}`;
  }
}

function nodeKey(n: Node): string | undefined {
  if (NONDETERMINISTIC.has(n.opType)) return undefined;
  const attrs: string[] = [];
  for (const name of Object.keys(n.attrs).sort()) {
    const k = attrKey(n.attrs[name]);
    if (k === undefined) return undefined;
    attrs.push(`${name}=${k}`);
  }
  return `${n.domain}|${n.opType}|${n.outputs.length}|${n.inputs.join(',')}|${attrs.join(';')}`;
}

/**
 * Common-subexpression elimination: a node with the same op, attributes (Constant values included)
 * and inputs as an earlier one is dropped and its outputs are read from the earlier node. Runs in
 * one topological sweep, so chains of duplicates collapse. Bit-exact: nothing is recomputed
 * differently. Nodes whose outputs are graph outputs (or read by subgraphs) keep their names and are left alone.
 */
export function eliminateCommonSubexpressions(graph: Graph): number {
  const outputs = new Set([...graph.outputs.map((o) => o.name), ...subgraphReads(graph)]);
  const seen = new Map<string, Node>();
  const rename = new Map<string, string>();
  const kept: Node[] = [];
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((i) => rename.get(i) ?? i);
    const key = n.outputs.some((o) => outputs.has(o)) ? undefined : nodeKey(n);
    const first = key === undefined ? undefined : seen.get(key);
    if (first) {
      n.outputs.forEach((o, i) => o && rename.set(o, first.outputs[i]));
      continue;
    }
    if (key !== undefined) seen.set(key, n);
    kept.push(n);
  }
  const removed = graph.nodes.length - kept.length;
  graph.nodes = kept;
  return removed;
}
