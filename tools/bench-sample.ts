/**
 * Benchmark (not a test): sampling speed of unet-fashion-mnist (random weights) through the
 * package's own path (loadModel + createSampler, DDIM): ms per denoising step at several batch
 * sizes, images/s for a 50-step run, and the share of step time spent outside session.run (the
 * sampler's math, tensor conversion, the onStep-free loop).
 *   node --import tsx tools/bench-sample.ts [--steps 50] [--batches 1,16,64] [--device cpu|cuda] [--threads N]
 */
import { availableParallelism, cpus } from 'node:os';
import { resolve } from 'node:path';
import type { InferenceSession } from 'onnxruntime-common';
import { createSampler } from '../src/diffusion/sampler';
import { buildModel, countFlops, countParams, loadRecipe } from '../src/nn';
import { encodeModel } from '../src/onnx/proto';
import { loadModel } from '../src/runtime/load';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const steps = Number(arg('steps', '50'));
const batches = arg('batches', '1,16,64').split(',').map(Number);
const device = arg('device', 'cpu') as 'cpu' | 'cuda';
const threads = Number(arg('threads', String(availableParallelism())));

/** Wraps session.run to add up the time spent inside it. */
function timeSessionRuns(session: InferenceSession): { ms: () => number; reset: () => void } {
  let total = 0;
  const run = session.run.bind(session) as (...a: unknown[]) => Promise<InferenceSession.ReturnType>;
  (session as { run: unknown }).run = async (...a: unknown[]) => {
    const t0 = performance.now();
    try {
      return await run(...a);
    } finally {
      total += performance.now() - t0;
    }
  };
  return { ms: () => total, reset: () => void (total = 0) };
}

async function main(): Promise<void> {
  const recipe = loadRecipe(resolve(__dirname, '..', 'graphs', 'unet-fashion-mnist.json'));
  const built = buildModel(recipe);
  const model = await loadModel(encodeModel(built), { device, threads });
  const inside = timeSessionRuns(model.session);
  const { channels, size } = model.config.image;
  console.log(`unet-fashion-mnist: ${channels}x${size}x${size}, ${(countParams(built) / 1e6).toFixed(2)} M parameters, ` +
    `${(countFlops(built, 1) / 1e9).toFixed(3)} GFLOP per image per step`);
  console.log(`${device}, ${threads} threads, ${cpus()[0]?.model ?? 'unknown CPU'}; DDIM ${steps} steps, node ${process.version}\n`);
  const rows: string[][] = [['batch', 'ms/step', 'ms/step/image', 'images/s', `s per ${steps}-step run`, 'outside session.run']];
  for (const batch of batches) {
    const sampler = createSampler(model, { sampler: 'ddim', steps, seed: 0, batch });
    await createSampler(model, { sampler: 'ddim', steps: 2, seed: 0 }).sample(batch); // warm-up: allocations, kernel choice
    inside.reset();
    const t0 = performance.now();
    await sampler.sample(batch);
    const total = performance.now() - t0;
    const perStep = total / steps;
    rows.push([
      String(batch),
      perStep.toFixed(1),
      (perStep / batch).toFixed(2),
      (batch / (total / 1000)).toFixed(1),
      (total / 1000).toFixed(2),
      `${(100 * (1 - inside.ms() / total)).toFixed(1)} %`,
    ]);
  }
  await model.release();
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padStart(widths[c])).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
