/**
 * Benchmark (not a test): forward vs training step on CPU for the PyTorch fixture and a ~1M
 * parameter UNet at 32x32, FLOPs counted from the graphs, and the share of the machine's peak
 * measured in the same run with a large MatMul in ORT.
 *   node --import tsx tools/bench-step.ts [--batch 64] [--runs 5] [--threads N]
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { configFromJson, readModelConfig } from '../src/core/model-config';
import { Rng } from '../src/core/rng';
import { buildModel, countFlops, loadRecipe } from '../src/nn';
import { Builder } from '../src/onnx/builder';
import { Model, newModel } from '../src/onnx/ir';
import { decodeModel } from '../src/onnx/proto';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';
import { flattenParams } from '../src/train/params';
import { buildStepGraph } from '../src/train/step-graph';
import { optimizerFeeds } from '../src/train/train-graph';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const batch = arg('batch', 64);
const runs = arg('runs', 5);
const threads = arg('threads', availableParallelism());
const root = resolve(__dirname, '..');

async function time(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up (allocations, kernel selection)
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  return (performance.now() - t0) / runs;
}

async function peak(): Promise<number> {
  const n = 2048;
  const b = new Builder();
  const a = b.input('a', 'float32', [n, n]);
  const c = b.input('c', 'float32', [n, n]);
  b.output(b.matmul(a, c), 'y');
  const s = await NodeSession.create(newModel(b.graph), { threads });
  const rng = new Rng(1);
  const feeds = { a: Tensor.float32([n, n], rng.normalArray(n * n)), c: Tensor.float32([n, n], rng.normalArray(n * n)) };
  const ms = await time(() => s.run(feeds));
  return (2 * n ** 3) / (ms / 1000) / 1e9;
}

async function bench(name: string, model: Model, config: ReturnType<typeof configFromJson>, peakGflops: number) {
  const { channels: c, size } = config.image;
  const rng = new Rng(0);
  const x = Tensor.float32([batch, c, size, size], rng.normalArray(batch * c * size * size));
  const t = Tensor.int64([batch], Array.from({ length: batch }, () => rng.int(0, config.diffusion.timesteps - 1)));
  const fwd = await NodeSession.create(model, { threads });
  const fwdMs = await time(() => fwd.run({ x, t }));
  const step = buildStepGraph(model, config, { batch });
  const params = flattenParams(model.graph, step.layout);
  const zeros = new Float32Array(params.length);
  const s = await NodeSession.create(step.model, { threads, memoryPattern: false });
  const feeds: Record<string, Tensor> = {
    ...optimizerFeeds({ params, m: zeros, v: zeros, ema: params }, { step: 1, lr: 1e-4, emaDecay: 0.999, maxNorm: 1 }),
    x0: x, noise: Tensor.float32(x.dims, rng.normalArray(x.size)), t,
  };
  const stepMs = await time(() => s.run(feeds));
  const fwdFlops = countFlops(model, batch);
  // Useful work of a step = forward + backward = 3x forward (dX and dW each cost one forward);
  // the graph count also includes the one-hot unfold convolutions, which only copy data.
  const graphFlops = countFlops(step.model, batch);
  const stepFlops = 3 * fwdFlops;
  const g = (f: number, ms: number) => f / (ms / 1000) / 1e9;
  return {
    model: name, params: params.length, 'fwd ms': fwdMs.toFixed(1), 'step ms': stepMs.toFixed(1), 'step/fwd': (stepMs / fwdMs).toFixed(2),
    'fwd GFLOP': (fwdFlops / 1e9).toFixed(2), 'step GFLOP (3x fwd)': (stepFlops / 1e9).toFixed(2), 'step graph GFLOP': (graphFlops / 1e9).toFixed(2),
    'fwd GFLOP/s': g(fwdFlops, fwdMs).toFixed(1), 'step GFLOP/s': g(stepFlops, stepMs).toFixed(1),
    'step % peak': ((100 * g(stepFlops, stepMs)) / peakGflops).toFixed(0),
  };
}

(async () => {
  const p = await peak();
  console.log(`machine: ${availableParallelism()} cores, ${threads} ORT threads, batch ${batch}, ${runs} runs after 1 warm-up`);
  console.log(`peak: MatMul 2048^3 in ORT = ${p.toFixed(1)} GFLOP/s`);
  const fixture = join(root, 'test/fixtures/torch-unet-16px.onnx');
  const fx = decodeModel(readFileSync(fixture), fixture);
  const fxConfig = configFromJson(JSON.parse(readFileSync(fixture.replace(/\.onnx$/, '.json'), 'utf8')), 'fixture json');
  const unet = buildModel(loadRecipe(join(root, 'graphs/unet-fashion-mnist.json')));
  const rows = [await bench('torch-unet-16px (fixture)', fx, fxConfig, p), await bench('unet-fashion-mnist 32x32', unet, readModelConfig(unet.metadata, 'unet')!, p)];
  console.table(rows);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
