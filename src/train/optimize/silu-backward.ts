import type { Graph, Node } from '../../onnx/ir';
import { constantValues, GraphIndex, indexGraph } from './graph-index';

/**
 * The backward of SiLU, y = x * s with s = Sigmoid(x), in four full-size passes instead of six.
 * The Mul and Sigmoid rules emit
 *   dx = g s + (g x) (s (1 - s))          (Mul(g,s), Mul(g,x), Sub(1,s), Mul(s,.), Mul(.,.), Add)
 * and this pass rewrites it, reusing the forward output y, to
 *   dx = g (s + y (1 - s))                (Sub(1,s), Mul(y,.), Add(s,.), Mul(g,.))
 * Float ops are reordered, so results agree to rounding (~1 ulp), not bit for bit.
 */
export function fuseSiluBackward(graph: Graph): number {
  const index = indexGraph(graph);
  const replace = new Map<Node, Node[]>();
  const drop = new Set<Node>();
  for (const add of graph.nodes) {
    const m = add.opType === 'Add' && add.domain === '' ? match(index, add) : undefined;
    if (!m || [m.gs, m.gxs, m.u, m.gx0].some((n) => drop.has(n))) continue;
    const base = add.name;
    const v = `${base}/silu_y1ms:0`;
    const w = `${base}/silu_dydx:0`;
    replace.set(add, [
      { name: `${base}/silu_y1ms`, opType: 'Mul', domain: '', inputs: [m.y, m.t], outputs: [v], attrs: {} },
      { name: `${base}/silu_dydx`, opType: 'Add', domain: '', inputs: [m.s, v], outputs: [w], attrs: {} },
      { name: `${base}/silu_dx`, opType: 'Mul', domain: '', inputs: [m.g, w], outputs: [add.outputs[0]], attrs: {} },
    ]);
    for (const n of [m.gx0, m.gs, m.u, m.gxs]) drop.add(n);
  }
  graph.nodes = graph.nodes.flatMap((n) => (drop.has(n) ? [] : replace.get(n) ?? [n]));
  return replace.size;
}

const isMul = (n: Node | undefined): n is Node => !!n && n.opType === 'Mul' && n.domain === '' && n.inputs.length === 2;
/** The other input of a binary node when one of them is `v`. */
const other = (n: Node, v: string): string | undefined => (n.inputs[0] === v ? n.inputs[1] : n.inputs[1] === v ? n.inputs[0] : undefined);

interface Silu { g: string; s: string; y: string; t: string; gx0: Node; gs: Node; u: Node; gxs: Node }

function match(ix: GraphIndex, add: Node): Silu | undefined {
  const only = (n: Node, by: Node) => !ix.outputs.has(n.outputs[0]) && (ix.consumers.get(n.outputs[0]) ?? []).every((c) => c === by);
  for (const [a, c] of [[0, 1], [1, 0]]) {
    const gx0 = ix.producer.get(add.inputs[a]);
    const gxs = ix.producer.get(add.inputs[c]);
    if (!isMul(gx0) || !isMul(gxs) || gx0 === gxs) continue;
    for (const [p, q] of [[0, 1], [1, 0]]) {
      const gs = ix.producer.get(gxs.inputs[p]);
      const u = ix.producer.get(gxs.inputs[q]);
      if (!isMul(gs) || !isMul(u)) continue;
      // u = s (1 - s) with t = Sub(1, s) and s = Sigmoid(x)
      for (const s of u.inputs) {
        const sig = ix.producer.get(s);
        const tNode = ix.producer.get(other(u, s) ?? '');
        if (!sig || sig.opType !== 'Sigmoid' || !tNode || tNode.opType !== 'Sub' || tNode.inputs[1] !== s) continue;
        const one = constantValues(ix, tNode.inputs[0]);
        if (!one || one.length !== 1 || one[0] !== 1) continue;
        const x = sig.inputs[0];
        // gx0 = g s and gs = g x, with the same g
        const g = other(gx0, s);
        if (g === undefined || other(gs, x) !== g) continue;
        // the forward y = x s whose gradient this is
        const y = (ix.consumers.get(s) ?? []).find((n) => isMul(n) && other(n, s) === x);
        if (!y) continue;
        if (!only(gx0, add) || !only(gxs, add) || !only(gs, gxs) || !only(u, gxs)) continue;
        return { g, s, y: y.outputs[0], t: tNode.outputs[0], gx0, gs, u, gxs };
      }
    }
  }
  return undefined;
}
