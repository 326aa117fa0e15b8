import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { folderFiles } from '../../src/core/node/external-files';
import { decodeModelWithExternalData } from '../../src/onnx/external-data-read';
import { foldConstants } from '../../src/onnx/fold';
import { Attribute, Graph, Model, newModel, Node } from '../../src/onnx/ir';
import { pinInputShapes } from '../../src/onnx/pin-dims';
import { encodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { randTensor } from '../helpers/ort';
import { fixture } from '../helpers/paths';

// Each fold is checked against ONNX Runtime on the unfolded graph: the same feeds give the same
// outputs, and the nodes that compute shapes and constants are gone.

type A = Record<string, Attribute>;
const ints = (value: number[]): Attribute => ({ type: 'ints', value });
const int = (value: number): Attribute => ({ type: 'int', value });

class G {
  graph = new Graph();
  private k = 0;
  constructor(inputs: Record<string, number[]>) {
    for (const [name, shape] of Object.entries(inputs)) this.graph.inputs.push({ name, dtype: 'float32', shape });
  }
  op(opType: string, inputs: string[], attrs: A = {}): string {
    const out = `v${this.k++}`;
    this.graph.nodes.push({ name: `${opType}_${this.k}`, opType, domain: '', inputs, outputs: [out], attrs } as Node);
    return out;
  }
  i64(values: number[], dims = [values.length]): string {
    const name = `c${this.k++}`;
    this.graph.initializers.set(name, Tensor.int64(dims, values));
    return name;
  }
  constant(t: Tensor): string {
    return this.op('Constant', [], { value: { type: 'tensor', value: t } });
  }
  out(...names: string[]): Graph {
    this.graph.outputs = names.map((name) => ({ name, dtype: 'float32' }));
    return this.graph;
  }
}

async function run(model: Model | Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await NodeSession.create(model);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.toNumbers();
  const y = b.toNumbers();
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

/** Folds `graph` (after declaring output dtypes from ORT) and checks ORT gives the same outputs; returns the folded graph. */
async function checkFold(graph: Graph, feeds: Record<string, Tensor>, mustFold: string[]): Promise<Graph> {
  const probe = graph.clone();
  // Output dtypes as ORT infers them (the builders here declare float32).
  for (const o of probe.outputs) o.dtype = o.name === 'all' ? 'int64' : 'float32';
  const want = await run(newModel(probe), feeds);
  for (const o of graph.outputs) o.dtype = want[o.name].dtype;
  const folded = graph.clone();
  const stats = foldConstants(folded);
  assert.ok(stats.folded > 0, 'something folds');
  const left = folded.nodes.filter((n) => mustFold.includes(n.opType)).map((n) => n.opType);
  assert.deepEqual(left, [], 'every shape/value node folded');
  const got = await run(newModel(folded), feeds);
  for (const o of graph.outputs) assert.ok(maxAbsDiff(got[o.name], want[o.name]) <= 1e-6, `output ${o.name} matches ORT on the unfolded graph`);
  return folded;
}

describe('onnx: constant folding of shape and value subgraphs (fold.ts) against ONNX Runtime', () => {
  it('Shape, Gather, Unsqueeze, Concat, Mul/Div/Add/Sub make a Reshape target static', async () => {
    const g = new G({ x: [2, 4, 6, 6] });
    const shape = g.op('Shape', ['x']);
    const n = g.op('Unsqueeze', [g.op('Gather', [shape, g.i64([0], [])], { axis: int(0) }), g.i64([0])]);
    const c = g.op('Gather', [shape, g.i64([1], [])], { axis: int(0) });
    const half = g.op('Unsqueeze', [g.op('Div', [c, g.i64([2], [])]), g.i64([0])]);
    const hw = g.op('Mul', [g.op('Gather', [shape, g.i64([-1], [])], { axis: int(0) }), g.op('Gather', [shape, g.i64([2], [])], { axis: int(0) })]);
    const rest = g.op('Unsqueeze', [g.op('Sub', [g.op('Add', [hw, g.i64([1], [])]), g.i64([1], [])]), g.i64([0])]);
    const target = g.op('Concat', [n, g.i64([2]), half, rest], { axis: int(0) });
    const y = g.op('Reshape', ['x', target]);
    const folded = await checkFold(g.out(y), { x: randTensor([2, 4, 6, 6], 1) }, ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Div', 'Mul', 'Add', 'Sub']);
    assert.deepEqual(folded.nodes.map((x) => x.opType), ['Constant', 'Reshape']);
  });

  it("diffusers' timestep expand (ConstantOfShape, Mul, Equal, Where, Expand) and Cast fold to the batch", async () => {
    const g = new G({ x: [3, 4, 2, 2], t: [1] });
    const n = g.op('Reshape', [g.op('Gather', [g.op('Shape', ['x']), g.i64([0], [])], { axis: int(0) }), g.i64([-1])]);
    const ones = g.op('ConstantOfShape', [g.i64([1])], { value: { type: 'tensor', value: Tensor.int64([1], [1]) } });
    const minus = g.op('Mul', [ones, g.constant(Tensor.int64([], [-1]))]);
    const target = g.op('Where', [g.op('Equal', [n, minus]), ones, n]);
    const te = g.op('Expand', ['t', target]);
    const scaled = g.op('Mul', [te, g.op('Cast', [g.op('ConstantOfShape', [target], { value: { type: 'tensor', value: Tensor.float32([1], [2.5]) } })], { to: int(1) })]);
    await checkFold(g.out(scaled), { x: randTensor([3, 4, 2, 2], 2), t: Tensor.float32([1], [751]) }, ['Shape', 'Gather', 'ConstantOfShape', 'Equal', 'Where', 'Cast']);
  });

  it("Range, Cast, Exp, Sin/Cos, Neg, Sqrt, Pow, Reciprocal: a sinusoidal table from a shape folds (float32 rounding as ORT)", async () => {
    const g = new G({ x: [2, 8] });
    const half = g.op('Div', [g.op('Gather', [g.op('Shape', ['x']), g.i64([1], [])], { axis: int(0) }), g.i64([2], [])]);
    const r = g.op('Cast', [g.op('Range', [g.i64([0], []), half, g.i64([1], [])])], { to: int(1) });
    const freq = g.op('Exp', [g.op('Mul', [g.op('Neg', [r]), g.constant(Tensor.scalar(Math.log(10000) / 4))])]);
    const table = g.op('Concat', [g.op('Sin', [freq]), g.op('Cos', [freq])], { axis: int(0) });
    const extra = g.op('Reciprocal', [g.op('Sqrt', [g.op('Pow', [g.op('Add', [r, g.constant(Tensor.scalar(1))]), g.constant(Tensor.scalar(3))])])]);
    const y = g.op('Mul', ['x', g.op('Concat', [g.op('Slice', [table, g.i64([0]), g.i64([4])]), extra], { axis: int(0) })]);
    await checkFold(g.out(y), { x: randTensor([2, 8], 3) }, ['Shape', 'Range', 'Cast', 'Exp', 'Sin', 'Cos', 'Neg', 'Sqrt', 'Pow', 'Reciprocal', 'Concat', 'Slice']);
  });

  it("Pad's pads from shape arithmetic (F.pad's pattern: ConstantOfShape, Concat, Reshape, Slice with negative step, Transpose, Flatten)", async () => {
    const g = new G({ x: [1, 2, 5, 7] });
    const rank = g.op('Size', [g.op('Shape', ['x'])]);
    const zeros = g.op('ConstantOfShape', [g.op('Unsqueeze', [g.op('Sub', [g.op('Mul', [rank, g.i64([2], [])]), g.i64([4], [])]), g.i64([0])])], {
      value: { type: 'tensor', value: Tensor.int64([1], [0]) },
    });
    const pads0 = g.op('Concat', [g.i64([0, 1, 2, 1]), zeros], { axis: int(0) });
    const pairs = g.op('Reshape', [pads0, g.i64([-1, 2])]);
    const rev = g.op('Slice', [pairs, g.i64([-1]), g.i64([-9999]), g.i64([0]), g.i64([-1])]);
    const pads = g.op('Flatten', [g.op('Transpose', [rev], { perm: ints([1, 0]) })], { axis: int(0) });
    const y = g.op('Pad', ['x', g.op('Reshape', [pads, g.i64([-1])])]);
    await checkFold(g.out(y), { x: randTensor([1, 2, 5, 7], 4) }, ['Shape', 'Size', 'ConstantOfShape', 'Concat', 'Slice', 'Transpose', 'Flatten', 'Mul', 'Sub']);
  });

  it('Shape with start/end, Squeeze, Slice with steps, Less/Greater/Not/And/Or, Max/Min, Floor/Ceil/Abs, Cast float->int truncates toward zero', async () => {
    const g = new G({ x: [2, 3, 4, 5] });
    const s = g.op('Shape', ['x'], { start: int(1), end: int(-1) }); // [3, 4]
    const picked = g.op('Slice', [g.op('Shape', ['x']), g.i64([0]), g.i64([4]), g.i64([0]), g.i64([2])]); // [2, 4]
    const mx = g.op('Max', [s, picked, g.i64([1, 1])]);
    const mn = g.op('Min', [s, picked]);
    const keep = g.op('And', [g.op('Less', [mn, mx]), g.op('Not', [g.op('Greater', [mn, mx])])]);
    const either = g.op('Or', [keep, g.op('Less', [mx, mn])]);
    const f = g.constant(Tensor.float32([4], [-2.7, 2.7, -0.5, 3.5]));
    const truncated = g.op('Cast', [g.op('Abs', [g.op('Floor', [f])])], { to: int(7) });
    const trunc2 = g.op('Cast', [g.op('Ceil', [f])], { to: int(7) });
    const trunc3 = g.op('Cast', [f], { to: int(7) });
    const all0 = g.op('Concat', [g.op('Cast', [either], { to: int(7) }), truncated, trunc2, trunc3, g.op('Squeeze', [g.op('Unsqueeze', [mx, g.i64([0])]), g.i64([0])])], { axis: int(0) });
    const all = g.op('Identity', [all0]);
    g.graph.nodes[g.graph.nodes.length - 1].outputs = ['all'];
    const y = g.op('Mul', ['x', g.op('Cast', [g.op('ReduceSum', [g.op('Cast', ['all'], { to: int(1) }), g.i64([0])], { keepdims: int(1) })], { to: int(1) })]);
    void all;
    const folded = await checkFold(g.out(y, 'all'), { x: randTensor([2, 3, 4, 5], 5) }, ['Shape', 'Slice', 'Max', 'Min', 'And', 'Less', 'Not', 'Greater', 'Or', 'Abs', 'Floor', 'Ceil', 'Squeeze', 'Unsqueeze']);
    // ReduceSum is no shape op: it stays, reading the folded constant.
    assert.ok(folded.nodes.some((n) => n.opType === 'ReduceSum'));
  });

  it("a Slice's INT64_MAX end survives folding (clamped, not wrapped to a negative)", async () => {
    const g = new G({ x: [2, 6] });
    const end = g.constant(Tensor.int64([1], [2n ** 63n - 1n]));
    const ends = g.op('Concat', [g.op('Identity', [end])], { axis: int(0) });
    const y = g.op('Slice', ['x', g.i64([1]), ends, g.i64([1])]);
    const folded = await checkFold(g.out(y), { x: randTensor([2, 6], 6) }, ['Concat', 'Identity']);
    assert.equal(folded.nodes.find((n) => n.opType === 'Slice') !== undefined, true);
  });

  it('weights (float initializers) never fold, and values of the data path stay computed', async () => {
    const g = new G({ x: [2, 3] });
    g.graph.initializers.set('w', Tensor.float32([3], [1, 2, 3]));
    const y = g.op('Add', ['x', g.op('Mul', ['w', g.constant(Tensor.scalar(2))])]);
    const graph = g.out(y);
    foldConstants(graph);
    assert.deepEqual(graph.nodes.map((n) => n.opType), ['Constant', 'Mul', 'Add']);
  });

  it('pinning: symbols take the sizes alike in every input; a declared size that differs is refused by name', () => {
    const graph = new Graph();
    graph.inputs = [
      { name: 'sample', dtype: 'float32', shape: ['batch', 'channels', 'height', 'width'] },
      { name: 'timestep', dtype: 'float32', shape: ['batch'] },
      { name: 'ctx', dtype: 'float32', shape: ['batch', 'sequence', 32] },
    ];
    pinInputShapes(graph, { sample: [2, 4, 16, 16], ctx: [2, 77, 32] }, 'unet.onnx');
    assert.deepEqual(graph.inputs.map((i) => i.shape), [[2, 4, 16, 16], [2], [2, 77, 32]]);
    const g2 = new Graph();
    g2.inputs = [{ name: 'ctx', dtype: 'float32', shape: ['batch', 'sequence', 32] }];
    assert.throws(() => pinInputShapes(g2, { ctx: [2, 77, 768] }, 'unet.onnx'), {
      message: 'unet.onnx: input \'ctx\' is declared [batch, sequence, 32], cannot be pinned to [2, 77, 768]',
    });
    assert.throws(() => pinInputShapes(g2, { sample: [2] }, 'unet.onnx'), { message: "unet.onnx: no input 'sample' to pin (inputs: ctx)" });
  });

  it("the tiny-sd UNet as exported: pinned and folded, ORT's outputs equal the unfolded graph's and the torch reference", async function () {
    this.timeout(60000);
    const dir = fixture('tiny-sd');
    const file = `${dir}/unet/model.onnx`;
    const model = decodeModelWithExternalData(fs.readFileSync(file), file, folderFiles(`${dir}/unet`));
    const npy = (name: string) => {
      const a = decodeNpy(fs.readFileSync(`${dir}/reference/${name}.npy`));
      return new Tensor('float32', a.shape, npyToFloat32(a));
    };
    const sample = npy('unet_step0_sample');
    const feeds = { sample, timestep: Tensor.float32([2], [751, 751]), encoder_hidden_states: npy('encoder_hidden_states') };
    const want = (await run(encodeModel(model), feeds)).out_sample;
    const graph = model.graph.clone();
    pinInputShapes(graph, { sample: [2, 4, 16, 16], encoder_hidden_states: [2, 77, 32] }, file);
    const before = graph.nodes.length;
    foldConstants(graph);
    const ops = new Set(graph.nodes.map((n) => n.opType));
    for (const op of ['Shape', 'Equal', 'Where']) assert.ok(!ops.has(op), `no ${op} left`);
    // What stays of ConstantOfShape is the attention's large zero bias, now of a constant shape.
    const producers = graph.producers();
    for (const n of graph.nodes.filter((x) => x.opType === 'ConstantOfShape')) assert.equal(producers.get(n.inputs[0])?.opType, 'Constant');
    assert.ok(graph.nodes.length < before / 2, `${graph.nodes.length} of ${before} nodes left`);
    const got = (await run(encodeModel({ ...model, graph }), feeds)).out_sample;
    assert.ok(maxAbsDiff(got, want) <= 1e-5, `folded vs unfolded: ${maxAbsDiff(got, want)}`);
    assert.ok(maxAbsDiff(got, npy('unet_step0_out')) <= 1e-4, 'the torch reference');
  });
});
