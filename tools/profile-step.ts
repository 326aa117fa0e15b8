/**
 * Profiler (not a test): runs ONNX Runtime's profiler over a training-step graph and prints where
 * one step's time goes: per op type split into forward / backward / optimizer parts (by node name:
 * the autodiff names its nodes grad/..., the optimizer optim/..., the flat-parameter slicing
 * params/...), and the most expensive nodes with their input shapes.
 *   node --import tsx tools/profile-step.ts [--model unet|fixture|PATH.onnx|RECIPE.json] [--batch 64]
 *        [--runs 3] [--threads N] [--top 20] [--weight-gradient shift-matmul|unfold-matmul|...] [--save-optimized FILE]
 * Times are kernel times per step (mean over the profiled runs after one warm-up); "wall" is the
 * session.run time of the same runs, so wall - kernels is what ORT spends between kernels.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { configFromJson, readModelConfig } from '../src/core/model-config';
import { Rng } from '../src/core/rng';
import { buildModel, loadRecipe } from '../src/nn';
import { Model } from '../src/onnx/ir';
import { decodeModel, encodeModel } from '../src/onnx/proto';
import { Tensor } from '../src/onnx/tensor';
import { sessionOptions } from '../src/runtime/node';
import { toOrt } from '../src/runtime/ort-tensor';
import type { WeightGradient } from '../src/autodiff';
import { flattenParams } from '../src/train/params';
import { buildStepGraph, StepGraphOptions } from '../src/train/step-graph';

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : d;
};
const root = resolve(__dirname, '..');

export type Part = 'forward' | 'backward' | 'optimizer' | 'params';

/** Which part of the step a node belongs to, from its name (ORT keeps it in fused node names). */
export function partOf(nodeName: string): Part {
  if (/(^|\/)grad[./]/.test(nodeName)) return 'backward';
  if (/(^|\/)optim\//.test(nodeName)) return 'optimizer';
  if (/(^|\/)params\//.test(nodeName)) return 'params';
  return 'forward';
}

function loadModel(which: string): { model: Model; config: NonNullable<ReturnType<typeof readModelConfig>> } {
  if (which === 'unet' || which.endsWith('.json')) {
    const model = buildModel(loadRecipe(which === 'unet' ? join(root, 'graphs/unet-fashion-mnist.json') : resolve(which)));
    return { model, config: readModelConfig(model.metadata, which)! };
  }
  const file = which === 'fixture' ? resolve(root, 'test/fixtures/torch-unet-16px.onnx') : resolve(which);
  const model = decodeModel(readFileSync(file), file);
  const config = readModelConfig(model.metadata, file) ?? configFromJson(JSON.parse(readFileSync(file.replace(/\.onnx$/, '.json'), 'utf8')), 'json');
  return { model, config };
}

interface OrtEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const shapes = (s?: Record<string, number[]>[]) => (s ?? []).map((o) => `[${Object.values(o)[0]?.join('x') ?? ''}]`).join(' ');

(async () => {
  const which = arg('model', 'unet');
  const batch = Number(arg('batch', '64'));
  const runs = Number(arg('runs', '3'));
  const threads = Number(arg('threads', String(availableParallelism())));
  const top = Number(arg('top', '20'));
  const stepOpts: StepGraphOptions = { batch };
  if (argv.includes('--no-optimize')) stepOpts.optimize = false;
  const wg = arg('weight-gradient', '');
  if (wg) stepOpts.conv = { weightGradient: wg as WeightGradient };
  const { model, config } = loadModel(which);
  const step = buildStepGraph(model, config, stepOpts);
  const dir = mkdtempSync(join(tmpdir(), 'profile-step-'));
  const so: ort.InferenceSession.SessionOptions = { ...sessionOptions({ threads, memoryPattern: false }), enableProfiling: true, profileFilePrefix: join(dir, 'step') };
  const saveOpt = arg('save-optimized', '');
  if (saveOpt) so.optimizedModelFilePath = resolve(saveOpt);
  const session = await ort.InferenceSession.create(encodeModel(step.model), so);

  const rng = new Rng(0);
  const { channels: c, size } = config.image;
  const n = batch * c * size * size;
  const params = flattenParams(model.graph, step.layout);
  const P = params.length;
  const feeds: Record<string, Tensor> = {
    params: Tensor.float32([P], params), m: Tensor.float32([P], new Float32Array(P)), v: Tensor.float32([P], new Float32Array(P)),
    ema: Tensor.float32([P], params), step: Tensor.scalar(1), lr: Tensor.scalar(1e-4), ema_decay: Tensor.scalar(0.999), max_norm: Tensor.scalar(1),
    t: Tensor.int64([batch], Array.from({ length: batch }, () => rng.int(0, config.diffusion.timesteps - 1))),
  };
  if (step.forward === 'host') {
    feeds.xt = Tensor.float32([batch, c, size, size], rng.normalArray(n));
    feeds.target = Tensor.float32([batch, c, size, size], rng.normalArray(n));
  } else {
    feeds.x0 = Tensor.float32([batch, c, size, size], rng.normalArray(n));
    feeds.noise = Tensor.float32([batch, c, size, size], rng.normalArray(n));
  }
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (!feeds[name]) throw new Error(`profile-step: no feed for input '${name}' (conditioned models are not supported here)`);
    ortFeeds[name] = toOrt(ort, feeds[name]) as ort.Tensor;
  }
  const t0 = performance.now();
  await session.run(ortFeeds);
  const warmMs = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(ortFeeds);
  const wallMs = (performance.now() - t1) / runs;
  session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error(`profile-step: ORT wrote no profile into ${dir}`);
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as OrtEvent[];
  rmSync(dir, { recursive: true, force: true });

  // The first run's events are the warm-up: keep the last `runs` occurrences of each node.
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perNode = new Map<string, { op: string; us: number[]; inputs: string; outputs: string }>();
  for (const e of kernels) {
    const name = e.name.slice(0, -'_kernel_time'.length);
    const r = perNode.get(name) ?? { op: e.args?.op_name ?? '?', us: [], inputs: shapes(e.args?.input_type_shape), outputs: shapes(e.args?.output_type_shape) };
    r.us.push(e.dur);
    perNode.set(name, r);
  }
  const ms = (us: number[]) => us.slice(-runs).reduce((s, v) => s + v, 0) / Math.min(runs, us.length) / 1000;
  const parts: Part[] = ['forward', 'backward', 'optimizer', 'params'];
  const byOp = new Map<string, Record<Part, number> & { nodes: number }>();
  const total: Record<Part, number> = { forward: 0, backward: 0, optimizer: 0, params: 0 };
  for (const [name, r] of perNode) {
    const row = byOp.get(r.op) ?? { forward: 0, backward: 0, optimizer: 0, params: 0, nodes: 0 };
    const t = ms(r.us);
    const p = partOf(name);
    row[p] += t;
    total[p] += t;
    row.nodes++;
    byOp.set(r.op, row);
  }
  const sum = parts.reduce((s, p) => s + total[p], 0);
  console.log(`${which}, batch ${batch}, ${threads} threads, ${runs} profiled runs after 1 warm-up (${warmMs.toFixed(0)} ms); ` +
    `step graph ${step.model.graph.nodes.length} nodes, ${perNode.size} kernels after ORT's optimiser`);
  console.log(`session.run wall ${wallMs.toFixed(1)} ms/step (profiling on), kernel time ${sum.toFixed(1)} ms ` +
    `(forward ${total.forward.toFixed(1)}, backward ${total.backward.toFixed(1)}, optimizer ${total.optimizer.toFixed(1)}, params ${total.params.toFixed(1)})`);
  const f = (x: number) => (x ? x.toFixed(1) : '');
  console.log('\nkernel ms per step by op type:');
  console.table([...byOp].sort((a, b) => b[1].forward + b[1].backward + b[1].optimizer + b[1].params - (a[1].forward + a[1].backward + a[1].optimizer + a[1].params))
    .map(([op, r]) => ({ op, nodes: r.nodes, forward: f(r.forward), backward: f(r.backward), optimizer: f(r.optimizer), params: f(r.params), total: (r.forward + r.backward + r.optimizer + r.params).toFixed(1) })));
  // Backward nodes are named grad.<forward op>/<emitted op>: which forward op's gradient costs what.
  const byRule = new Map<string, { ms: number; nodes: number; ops: Map<string, number> }>();
  for (const [name, r] of perNode) {
    if (partOf(name) !== 'backward') continue;
    const rule = /grad\.([A-Za-z]+)\//.exec(name)?.[1] ?? '(fan-out sums)';
    const row = byRule.get(rule) ?? { ms: 0, nodes: 0, ops: new Map<string, number>() };
    row.ms += ms(r.us);
    row.nodes++;
    row.ops.set(r.op, (row.ops.get(r.op) ?? 0) + ms(r.us));
    byRule.set(rule, row);
  }
  console.log('\nbackward kernel ms per step by the forward op whose gradient it computes:');
  console.table([...byRule].sort((a, b) => b[1].ms - a[1].ms).map(([rule, r]) => ({
    'gradient of': rule, nodes: r.nodes, ms: r.ms.toFixed(1),
    'main kernels': [...r.ops].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([op, t]) => `${op} ${t.toFixed(0)}`).join(', '),
  })));
  console.log(`\n${top} most expensive nodes:`);
  console.table([...perNode].map(([name, r]) => ({ name, op: r.op, part: partOf(name), ms: ms(r.us), inputs: r.inputs, output: r.outputs }))
    .sort((a, b) => b.ms - a.ms).slice(0, top).map((r) => ({ ...r, name: r.name.length > 48 ? `...${r.name.slice(-45)}` : r.name, ms: r.ms.toFixed(1) })));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
