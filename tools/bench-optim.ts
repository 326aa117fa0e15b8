/**
 * Benchmark (not a test): flat vs per-tensor optimizer state for the unet-fashion-mnist layout.
 *   node --import tsx tools/bench-optim.ts [--runs 20]
 * Both graphs take the per-tensor gradients (as the backward pass produces them) and perform
 * global-norm clipping, AdamW and EMA. "flat": params/m/v/ema are four float32 vectors; the
 * weights the network reads are Slice+Reshape views and the gradients are Concat-ed. "per-tensor":
 * every weight, moment and EMA tensor is its own input and output (4 x tensors each way).
 * Times one session.run, including creating the ORT input tensors on the host.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Rng } from '../src/core/rng';
import { buildModel, loadRecipe } from '../src/nn';
import { Builder, Value } from '../src/onnx/builder';
import { newModel } from '../src/onnx/ir';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';
import { adamw, clipByGlobalNorm, DEFAULT_ADAMW, ema, globalNorm } from '../src/train/optim';
import { trainableLayout } from '../src/train/params';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 20;
const layout = trainableLayout(buildModel(loadRecipe(join(resolve(__dirname, '..'), 'graphs/unet-fashion-mnist.json'))).graph);
const scalars = (b: Builder) => ['step', 'lr', 'ema_decay', 'max_norm'].map((n) => b.input(n, 'float32', []));

function flatGraph() {
  const b = new Builder();
  const P = layout.total;
  const [p, m, v, e] = ['params', 'm', 'v', 'ema'].map((n) => b.input(n, 'float32', [P]));
  const [step, lr, decay, maxNorm] = scalars(b);
  const grads = layout.slots.map((s) => b.input(`g/${s.name}`, 'float32', s.dims));
  // The views the network would read, reduced to one scalar so they are computed.
  const views = layout.slots.map((s) => b.op('ReduceSum', [b.reshape(b.slice(p, [s.offset], [s.offset + s.size], [0]), s.dims)], { keepdims: 0 }));
  const g = b.concat(grads.map((x, i) => b.reshape(x, [layout.slots[i].size])), 0);
  const norm = globalNorm(b, [g]);
  const [gc] = clipByGlobalNorm(b, [g], norm, maxNorm);
  const u = adamw(b, p, gc, m, v, lr, step, DEFAULT_ADAMW);
  b.output(u.p, 'p_out');
  b.output(u.m, 'm_out');
  b.output(u.v, 'v_out');
  b.output(ema(b, e, u.p, decay), 'e_out');
  b.output(b.op('Sum', views), 'views');
  return newModel(b.graph);
}

function perTensorGraph() {
  const b = new Builder();
  const [step, lr, decay, maxNorm] = scalars(b);
  const ins = layout.slots.map((s) => ['p', 'm', 'v', 'e', 'g'].map((k) => b.input(`${k}/${s.name}`, 'float32', s.dims)));
  const norm = globalNorm(b, ins.map((x) => x[4]));
  const clipped = clipByGlobalNorm(b, ins.map((x) => x[4]), norm, maxNorm);
  ins.forEach(([p, m, v, e], i) => {
    const u = adamw(b, p, clipped[i], m, v, lr, step, DEFAULT_ADAMW);
    const name = layout.slots[i].name;
    b.output(u.p, `p_out/${name}`);
    b.output(u.m, `m_out/${name}`);
    b.output(u.v, `v_out/${name}`);
    b.output(ema(b, e, u.p, decay) as Value, `e_out/${name}`);
  });
  return newModel(b.graph);
}

(async () => {
  const rng = new Rng(0);
  const data = new Map(layout.slots.map((s) => [s.name, rng.normalArray(s.size)]));
  const flat = new Float32Array(layout.total);
  for (const s of layout.slots) flat.set(data.get(s.name)!, s.offset);
  const sc = { step: Tensor.scalar(3), lr: Tensor.scalar(1e-3), ema_decay: Tensor.scalar(0.999), max_norm: Tensor.scalar(1) };
  const rows = [];
  for (const [name, model, feeds] of [
    ['flat (4 vectors)', flatGraph(), () => ({
      ...sc, params: Tensor.float32([layout.total], flat), m: Tensor.float32([layout.total], flat), v: Tensor.float32([layout.total], flat.map(Math.abs)), ema: Tensor.float32([layout.total], flat),
      ...Object.fromEntries(layout.slots.map((s) => [`g/${s.name}`, new Tensor('float32', s.dims, data.get(s.name)!)])),
    })],
    ['per-tensor', perTensorGraph(), () => ({
      ...sc,
      ...Object.fromEntries(layout.slots.flatMap((s) => ['p', 'm', 'v', 'e', 'g'].map((k) => [`${k}/${s.name}`, new Tensor('float32', s.dims, k === 'v' ? data.get(s.name)!.map(Math.abs) : data.get(s.name)!)]))),
    })],
  ] as const) {
    const s = await NodeSession.create(model, { threads: availableParallelism() });
    await s.run(feeds());
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await s.run(feeds());
    rows.push({ layout: name, tensors: layout.slots.length, values: layout.total, nodes: model.graph.nodes.length, 'ms per update': ((performance.now() - t0) / runs).toFixed(2) });
    await s.release();
  }
  console.table(rows);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
