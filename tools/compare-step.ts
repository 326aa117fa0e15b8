/**
 * Benchmark (not a test): step-graph variants of one model timed interleaved in one process, so
 * that a loaded, shared machine affects them alike (round-robin: one run of each per round).
 *   node --import tsx tools/compare-step.ts [--model unet|fixture] [--batch 64] [--runs 7]
 *        [--variants '[{"label":"default"},{"label":"x","conv":{"weightGradient":"unfold-smaller"}}]']
 * Each variant is StepGraphOptions (conv, optimize) plus a label, and optionally env: environment
 * variables set while its graph is built (for experiment switches in the rules). Prints min / median step ms, the
 * ratio of medians to the first variant, the forward, the loss of each variant (they must agree),
 * and `uptime`-style load before and after.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { configFromJson, readModelConfig } from '../src/core/model-config';
import { Rng } from '../src/core/rng';
import { buildModel, loadRecipe } from '../src/nn';
import { Model } from '../src/onnx/ir';
import { decodeModel } from '../src/onnx/proto';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';
import { flattenParams } from '../src/train/params';
import { buildStepGraph, StepGraphOptions } from '../src/train/step-graph';
import { optimizerFeeds } from '../src/train/train-graph';

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : d;
};
const batch = Number(arg('batch', '64'));
const runs = Number(arg('runs', '7'));
const threads = Number(arg('threads', String(availableParallelism())));
const which = arg('model', 'unet');
const variants: (StepGraphOptions & { label: string; env?: Record<string, string> })[] = JSON.parse(arg('variants', '[{"label":"default"}]'));
const root = resolve(__dirname, '..');

function load(): { model: Model; config: ReturnType<typeof configFromJson> } {
  if (which === 'unet') {
    const model = buildModel(loadRecipe(join(root, 'graphs/unet-fashion-mnist.json')));
    return { model, config: readModelConfig(model.metadata, 'unet')! };
  }
  const file = which === 'fixture' ? join(root, 'test/fixtures/torch-unet-16px.onnx') : resolve(which);
  return { model: decodeModel(readFileSync(file), file), config: configFromJson(JSON.parse(readFileSync(file.replace(/\.onnx$/, '.json'), 'utf8')), 'json') };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const load1 = () => loadavg().map((l) => l.toFixed(2)).join(', ');

(async () => {
  const { model, config } = load();
  const { channels: c, size } = config.image;
  const rng = new Rng(0);
  const x = Tensor.float32([batch, c, size, size], rng.normalArray(batch * c * size * size));
  const t = Tensor.int64([batch], Array.from({ length: batch }, () => rng.int(0, config.diffusion.timesteps - 1)));
  const noise = Tensor.float32(x.dims, rng.normalArray(x.size));
  const fwd = await NodeSession.create(model, { threads });
  const sessions = [];
  for (const v of variants) {
    for (const [k, val] of Object.entries(v.env ?? {})) process.env[k] = val;
    const step = buildStepGraph(model, config, { batch, ...v });
    const params = flattenParams(model.graph, step.layout);
    const zeros = new Float32Array(params.length);
    const s = await NodeSession.create(step.model, { threads, memoryPattern: false });
    const feeds: Record<string, Tensor> = {
      ...optimizerFeeds({ params, m: zeros, v: zeros, ema: params }, { step: 1, lr: 1e-4, emaDecay: 0.999, maxNorm: 1 }), x0: x, noise, t,
    };
    const out = await s.run(feeds); // warm-up
    for (const k of Object.keys(v.env ?? {})) delete process.env[k];
    sessions.push({ v, s, feeds, nodes: step.model.graph.nodes.length, loss: Object.entries(out).find(([k]) => k === 'loss')?.[1].data[0], ms: [] as number[] });
  }
  await fwd.run({ x, t });
  const fwdMs: number[] = [];
  console.log(`${which}, batch ${batch}, ${threads} threads, ${runs} interleaved rounds; load before: ${load1()}`);
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now();
    await fwd.run({ x, t });
    fwdMs.push(performance.now() - t0);
    for (const e of sessions) {
      t0 = performance.now();
      await e.s.run(e.feeds);
      e.ms.push(performance.now() - t0);
    }
  }
  const base = median(sessions[0].ms);
  console.log(`forward ms min ${Math.min(...fwdMs).toFixed(1)} median ${median(fwdMs).toFixed(1)}; load after: ${load1()}`);
  console.table(sessions.map((e) => ({
    variant: e.v.label, nodes: e.nodes, 'step ms min': Math.min(...e.ms).toFixed(1), 'step ms median': median(e.ms).toFixed(1),
    'median / first': (median(e.ms) / base).toFixed(3), 'step/fwd (medians)': (median(e.ms) / median(fwdMs)).toFixed(2), loss: e.loss,
  })));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
