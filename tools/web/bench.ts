/**
 * Milliseconds per denoising step (one network call on a batch plus the sampler's arithmetic):
 * Chromium + onnxruntime-web WASM with 1 and 2 threads vs onnxruntime-node CPU with 1 and 2
 * intra-op threads, same model file, batch, sampler and seed. Each cell is the best of --reps
 * runs of --steps DDIM steps after a 2-step warm-up (best-of, since a shared machine only ever
 * adds time). Prints a Markdown table.
 *
 *   node --import tsx tools/web/bench.ts [--batch 4] [--steps 20] [--reps 3] [--recipes graphs/unet-tiny.json,graphs/unet-fashion-mnist.json]
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
import { encodeModel } from '../../src/onnx/proto';
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

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-bench-'));
  const site = path.join(dir, 'site');
  await buildWeb({ outDir: site, webgpu: false });
  fs.mkdirSync(path.join(site, 'models'));
  const server = await serveStatic({ dir: site });
  const browser = await launchChromium();
  const rows: string[] = [];
  try {
    for (const file of recipes) {
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
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const load = os.loadavg()[0].toFixed(1);
  console.log(`\nms per DDIM step, batch ${batch}, best of ${reps} x ${steps} steps; ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load ${load}, ${browser.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| model (params) | batch | browser WASM 1 thread | browser WASM 2 threads | Node CPU 1 thread | Node CPU 2 threads | WASM/Node (1 thread) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
