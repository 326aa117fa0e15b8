/**
 * The model-card score table: one model sampled with several samplers and step counts, each set
 * scored by `evaluate`'s evaluator (FD, confidence, class entropy, precision/recall, and guided
 * accuracy for class-conditional models), with the real-data floor at each N.
 *   node --import tsx tools/score-model.ts --model fashion-mnist [--n 1000]
 *     [--runs ddpm:1000@200,ddim:50,ddim:20,dpm++2m:20,dpm++2m:10] [--guidance 3] [--batch 250]
 *     [--seed 0] [--threads N] [--json scores.json]
 * A run is SAMPLER:STEPS, optionally @N to score fewer images (DDPM's 1000 network calls per image).
 * Prints a markdown table (FD / floor is the ratio to real training images at the same N, since FD's
 * bias grows as N shrinks) and the sampling time per image.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { openDataset } from '../src/data/open';
import type { SamplerName } from '../src/core/diffusion-config';
import { createSampler } from '../src/diffusion/sampler';
import { createEvaluator, requestedClasses, Scores } from '../src/eval/evaluate';
import { loadModel } from '../src/runtime/load';

const arg = (name: string, d?: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};

interface Row extends Scores {
  sampler: string;
  steps: number;
  floor: number;
  msPerImage: number;
}

(async () => {
  const modelArg = arg('model');
  if (!modelArg) throw new Error('--model is required');
  const n0 = Number(arg('n', '1000'));
  const runs = (arg('runs', 'ddpm:1000@200,ddim:50,ddim:20,dpm++2m:20,dpm++2m:10') as string).split(',').map((r) => {
    const m = /^([\w+]+):(\d+)(?:@(\d+))?$/.exec(r.trim());
    if (!m) throw new Error(`--runs: '${r}' is not SAMPLER:STEPS[@N]`);
    return { sampler: m[1] as SamplerName, steps: Number(m[2]), n: m[3] ? Number(m[3]) : n0 };
  });
  const guidance = arg('guidance') === undefined ? undefined : Number(arg('guidance'));
  const batch = Number(arg('batch', '250'));
  const seed = Number(arg('seed', '0'));
  const threads = Number(arg('threads', String(availableParallelism())));

  const model = await loadModel(modelArg, { threads });
  const ev = await createEvaluator({ threads, seed });
  const real = await openDataset('fashion-mnist:full', ev.net.config.image);
  const floors = new Map<number, Scores>();
  const rows: Row[] = [];
  const classes = model.config.conditioning.classes;
  process.stdout.write(`model ${modelArg}${guidance !== undefined ? `, guidance ${guidance}` : ''}; reference ${ev.reference.name} (${ev.reference.n} images)\n`);
  process.stdout.write('| sampler | steps | N | FD | FD / floor | confidence | entropy (bits) | precision | recall |' + (classes ? ' guided accuracy |' : '') + ' ms / image |\n');
  process.stdout.write('|---|---|---|---|---|---|---|---|---|' + (classes ? '---|' : '') + '---|\n');
  for (const r of runs) {
    if (!floors.has(r.n)) floors.set(r.n, await ev.scoreDataset(real, r.n, 'real'));
    const floor = floors.get(r.n) as Scores;
    const t0 = performance.now();
    const res = await createSampler(model, { sampler: r.sampler, steps: r.steps, seed, batch, guidance }).sample(r.n);
    const ms = (performance.now() - t0) / r.n;
    const requested = classes !== undefined && classes === ev.net.config.classes ? requestedClasses(r.n, classes) : undefined;
    const s = await ev.score(res.images, r.n, { source: `${r.sampler} ${r.steps}`, channels: res.c, size: res.h, requested });
    rows.push({ ...s, sampler: r.sampler, steps: r.steps, floor: floor.fd, msPerImage: ms });
    const f = (v: number, d = 3) => v.toFixed(d);
    process.stdout.write(`| ${r.sampler} | ${r.steps} | ${r.n} | ${f(s.fd, 2)} | ${f(s.fd / floor.fd, 1)}x | ${f(s.confidence)} | ${f(s.entropy, 2)} | ${f(s.precision, 2)} | ${f(s.recall, 2)} |` + (s.accuracy !== undefined ? ` ${f(s.accuracy)} |` : '') + ` ${f(ms, 1)} |\n`);
  }
  for (const [n, fl] of floors) process.stdout.write(`| real training images (floor) | | ${n} | ${fl.fd.toFixed(2)} | 1x | ${fl.confidence.toFixed(3)} | ${fl.entropy.toFixed(2)} | ${fl.precision.toFixed(2)} | ${fl.recall.toFixed(2)} |${classes ? ' |' : ''} |\n`);
  const json = arg('json');
  if (json) writeFileSync(json, JSON.stringify({ model: modelArg, guidance, seed, rows, floors: Object.fromEntries(floors) }, null, 1));
  await ev.release();
  await model.release();
})().catch((e) => {
  process.stderr.write(`score-model: ${(e as Error).message}\n`);
  process.exit(1);
});
