/**
 * Two tables. Sampling: milliseconds per denoising step (one network call on a batch plus the sampler's arithmetic):
 * Chromium + onnxruntime-web WASM with 1 and 2 threads vs onnxruntime-node CPU with 1 and 2
 * intra-op threads, same model file, batch, sampler and seed. Each cell is the best of --reps
 * runs of --steps DDIM steps after a 2-step warm-up (best-of, since a shared machine only ever
 * adds time). Prints a Markdown table.
 *
 *   node --import tsx tools/web/bench.ts [--batch 4] [--steps 20] [--reps 3] [--recipes graphs/unet-tiny.json,graphs/unet-fashion-mnist.json]
 *                                        [--train-batches 8,16] [--train-steps 3] [--only sample|train]
 *
 * Training (issue 14): milliseconds per training step (forward, backward, AdamW, EMA: one step
 * graph) of `createTrainer` in Chromium, WASM 1 and 2 threads, vs the same step graph in
 * onnxruntime-node with 1 and 2 intra-op threads, at --train-batches (default 8,16); best of --reps
 * means of --train-steps steps after 2 warm-up steps. --only sample|train runs one table.
 *
 * Models are built from the recipes with random weights (seed 1): speed does not depend on them.
 * 2 browser threads need the page cross-origin isolated, which tools/web/serve.ts provides.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createSampler } from '../../src/diffusion/sampler';
import { buildModel, countParams, loadRecipe } from '../../src/nn';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { readModelConfig } from '../../src/core/model-config';
import { Rng } from '../../src/core/rng';
import { NodeSession } from '../../src/runtime/node';
import { makeFeeds } from '../../src/train/feeds';
import { flattenParams } from '../../src/train/params';
import { buildStepGraph } from '../../src/train/step-graph';
import { optimizerFeeds } from '../../src/train/train-graph';
import type { Browser } from './browser';
import type { StaticServer } from './serve';
import { DiffusionModel, OrtApi } from '../../src/runtime/model';
import { launchChromium } from './browser';
import { buildWeb } from './build';
import { serveStatic } from './serve';

interface DemoHook {
  ready: Promise<void>;
  sample(req: { sampler?: string; steps?: number; seed?: number; n?: number; preview?: boolean }): Promise<{ ms: number; steps: number }>;
}
declare const window: { __demo: DemoHook; crossOriginIsolated: boolean };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const ROOT = path.resolve(__dirname, '..', '..');
const batch = Number(arg('--batch', '4'));
const steps = Number(arg('--steps', '20'));
const recipes = arg('--recipes', 'graphs/unet-tiny.json,graphs/unet-fashion-mnist.json').split(',');
const reps = Number(arg('--reps', '3'));
const THREADS = [1, 2];
const trainBatches = arg('--train-batches', '8,16').split(',').map(Number);
const trainSteps = Number(arg('--train-steps', '3'));
const only = arg('--only', '');

/** Best of `reps` timed runs, each returning ms per step, after one warm-up. */
async function best(warmUp: () => Promise<unknown>, run: () => Promise<number>): Promise<number> {
  await warmUp();
  let ms = Infinity;
  for (let i = 0; i < reps; i++) ms = Math.min(ms, await run());
  return ms;
}
const request = { sampler: 'ddim', steps, seed: 0, n: batch, preview: false };

async function nodeMsPerStep(bytes: Uint8Array, threads: number): Promise<number> {
  const model = await DiffusionModel.create(ort as unknown as OrtApi, bytes, {
    sessionOptions: { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
  });
  try {
    return await best(() => createSampler(model, { ...request, steps: 2 }).sample(batch), async () => {
      const t0 = performance.now();
      await createSampler(model, request).sample(batch);
      return (performance.now() - t0) / steps;
    });
  } finally {
    await model.release();
  }
}

/** Best of `reps` means of `trainSteps` training steps, after 2 warm-up steps, in a page with `threads` WASM threads. */
async function browserTrainMs(browser: Browser, server: StaticServer, name: string, batch: number, threads: number): Promise<number> {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}style.css`);
    if (threads > 1 && !(await page.evaluate(() => window.crossOriginIsolated))) throw new Error('page not cross-origin isolated: no WASM threads');
    return await page.evaluate(`(async () => {
      const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
      const trainer = await lib.createTrainer('models/${name}.onnx', undefined, { batch: ${batch}, steps: 100000, numThreads: ${threads} });
      const { channels, size } = trainer.config.image;
      const x = new Float32Array(${batch} * channels * size * size).map((_, i) => Math.sin(i) * 0.9);
      for (let i = 0; i < 2; i++) await trainer.step({ x });
      let best = Infinity;
      for (let r = 0; r < ${reps}; r++) {
        const t0 = performance.now();
        for (let i = 0; i < ${trainSteps}; i++) await trainer.step({ x });
        best = Math.min(best, (performance.now() - t0) / ${trainSteps});
      }
      await trainer.dispose();
      return best;
    })()`) as number;
  } finally {
    await page.close();
  }
}

/** The same step graph in onnxruntime-node, fed as the Node trainer feeds it. */
async function nodeTrainMs(bytes: Uint8Array, batch: number, threads: number): Promise<number> {
  const model = decodeModel(bytes);
  const config = readModelConfig(model.metadata, 'bench')!;
  const step = buildStepGraph(model, config, { batch });
  const session = await NodeSession.create(step.model, { threads, memoryPattern: false });
  const { channels, size } = config.image;
  const x = new Float32Array(batch * channels * size * size).map((_, i) => Math.sin(i) * 0.9);
  const params = flattenParams(model.graph, step.layout);
  let vec = { params, m: new Float32Array(params.length), v: new Float32Array(params.length), ema: params.slice() };
  const rng = new Rng(1);
  const one = async (k: number) => {
    const feeds = makeFeeds({ size: batch, x, indices: new Int32Array(batch) }, config, step, rng, [0, config.diffusion.timesteps - 1], 0);
    Object.assign(feeds, optimizerFeeds(vec, { step: k + 1, lr: 1e-4, emaDecay: 0.999, maxNorm: 1 }));
    const res = await session.run(feeds);
    vec = { params: res.params_out.data as Float32Array, m: res.m_out.data as Float32Array, v: res.v_out.data as Float32Array, ema: res.ema_out.data as Float32Array };
  };
  try {
    for (let i = 0; i < 2; i++) await one(i);
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      for (let i = 0; i < trainSteps; i++) await one(i);
      best = Math.min(best, (performance.now() - t0) / trainSteps);
    }
    return best;
  } finally {
    await session.release();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-bench-'));
  const site = path.join(dir, 'site');
  await buildWeb({ outDir: site, webgpu: false, train: false });
  fs.mkdirSync(path.join(site, 'models'), { recursive: true });
  const server = await serveStatic({ dir: site });
  const browser = await launchChromium();
  const rows: string[] = [];
  const trainRows: string[] = [];
  try {
    for (const file of only === 'train' ? [] : recipes) {
      const name = path.basename(file, '.json');
      const graph = buildModel(loadRecipe(path.resolve(ROOT, file)), { seed: 1 });
      const bytes = encodeModel(graph);
      fs.writeFileSync(path.join(site, 'models', `${name}.onnx`), bytes);
      const cells: number[] = [];
      for (const threads of THREADS) {
        const page = await browser.context.newPage();
        await page.goto(`${server.url}?threads=${threads}&model=models/${name}.onnx`);
        await page.evaluate(() => window.__demo.ready);
        if (threads > 1 && !(await page.evaluate(() => window.crossOriginIsolated))) throw new Error('page not cross-origin isolated: no WASM threads');
        cells.push(await best(
          () => page.evaluate((r) => window.__demo.sample(r), { ...request, steps: 2 }),
          async () => {
            const res = await page.evaluate((r) => window.__demo.sample(r), request);
            return res.ms / res.steps;
          },
        ));
        await page.close();
      }
      for (const threads of THREADS) cells.push(await nodeMsPerStep(bytes, threads));
      const params = (countParams(graph) / 1e6).toFixed(2);
      rows.push(`| ${name} (${params}M) | ${batch} | ${cells.map((c) => c.toFixed(1)).join(' | ')} | ${(cells[0] / cells[2]).toFixed(1)}x |`);
      console.error(`${name}: done`);
    }
    for (const file of only === 'sample' ? [] : recipes) {
      const name = path.basename(file, '.json');
      const graph = buildModel(loadRecipe(path.resolve(ROOT, file)), { seed: 1 });
      const bytes = encodeModel(graph);
      fs.writeFileSync(path.join(site, 'models', `${name}.onnx`), bytes);
      for (const b of trainBatches) {
        const cells: number[] = [];
        for (const threads of THREADS) cells.push(await browserTrainMs(browser, server, name, b, threads));
        for (const threads of THREADS) cells.push(await nodeTrainMs(bytes, b, threads));
        const params = (countParams(graph) / 1e6).toFixed(2);
        trainRows.push(`| ${name} (${params}M) | ${b} | ${cells.map((c) => c.toFixed(0)).join(' | ')} | ${(cells[0] / cells[2]).toFixed(2)}x | ${(cells[1] / cells[3]).toFixed(2)}x |`);
        console.error(`${name} batch ${b} training: done`);
      }
    }
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const load = os.loadavg()[0].toFixed(1);
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load ${load}, ${browser.version}, ${new Date().toISOString().slice(0, 10)}`;
  if (trainRows.length > 0) {
    console.log(`\nms per training step (forward + backward + AdamW + EMA), best of ${reps} x ${trainSteps} steps; ${machine}\n`);
    console.log('| model (params) | batch | browser WASM 1 thread | browser WASM 2 threads | Node CPU 1 thread | Node CPU 2 threads | browser/Node 1 thread | browser/Node 2 threads |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of trainRows) console.log(r);
  }
  if (rows.length === 0) return;
  console.log(`\nms per DDIM step, batch ${batch}, best of ${reps} x ${steps} steps; ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load ${load}, ${browser.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| model (params) | batch | browser WASM 1 thread | browser WASM 2 threads | Node CPU 1 thread | Node CPU 2 threads | WASM/Node (1 thread) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
