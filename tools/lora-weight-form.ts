/** The former weight-path LoRA (W' = W + s B A formed in-graph every step), kept for benchmarks only. */
import { extractLora, insertLora, loraA, loraB } from '../src/nn/lora';
import { Model } from '../src/onnx/ir';
import { Tensor } from '../src/onnx/tensor';
import { sortTopologically } from '../src/onnx/topo';

/**
 * The former in-graph form, for this comparison only: W' = W + (alpha/r) dW is formed from A and B
 * on every step and the node reads W' (a full-size MatMul, Add and weight gradient per target).
 */
export function weightForm(base: Model, rank: number, targets?: string): Model {
  const { base: plain, adapter } = extractLora(insertLora(base, { rank, targets }));
  const graph = plain.graph.clone();
  for (const [name, t] of adapter.tensors) graph.initializers.set(name, t);
  for (const t of adapter.spec.targets) {
    const w = graph.initializers.get(t.weight)!;
    const p = `lora_w/${t.key}`;
    const node = (opType: string, inputs: string[], out: string, attrs = {}) => (graph.nodes.push({ name: `${p}/${out}`, opType, domain: '', inputs, outputs: [`${p}/${out}`], attrs }), `${p}/${out}`);
    const cst = (name: string, v: Tensor) => (graph.initializers.set(`${p}/${name}`, v), `${p}/${name}`);
    let a = loraA(t.key);
    let b = loraB(t.key);
    if (t.layout === 'conv') {
      b = node('Reshape', [b, cst('b_dims', Tensor.int64([2], [w.dims[0], rank]))], 'b2d');
      a = node('Reshape', [a, cst('a_dims', Tensor.int64([2], [rank, -1]))], 'a2d');
    }
    let d = node('MatMul', [b, a], 'ba');
    if (t.layout === 'in-out') d = node('Transpose', [d], 'ba_t', { perm: { type: 'ints', value: [1, 0] } });
    if (t.layout === 'conv') d = node('Reshape', [d, cst('w_dims', Tensor.int64([4], w.dims))], 'ba_w');
    const merged = node('Add', [t.weight, node('Mul', [d, cst('scale', Tensor.scalar(adapter.spec.alpha / rank))], 'delta')], 'merged');
    for (const n of graph.nodes) if (!n.name.startsWith(p)) n.inputs = n.inputs.map((i) => (i === t.weight ? merged : i));
  }
  sortTopologically(graph);
  return { ...plain, graph };
}
