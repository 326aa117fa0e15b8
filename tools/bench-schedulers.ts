/**
 * Benchmark (not a test): milliseconds of one scheduler step (scaleModelInput + step, no network)
 * on Stable Diffusion 1.5's latents (batch 1, 4 x 64 x 64) for every scheduler a folder can use,
 * over a 25-step run on the tiny-sd scheduler config. The UNet's step takes seconds; this is the
 * loop's own share.
 *   node --import tsx tools/bench-schedulers.ts [--steps 25] [--runs 5]
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../src/core/rng';
import { createScheduler, schedulerNames } from '../src/diffusion/schedulers';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const steps = arg('steps', 25);
const runs = arg('runs', 5);
const file = join(resolve(__dirname, '..'), 'test', 'fixtures', 'tiny-sd', 'scheduler', 'scheduler_config.json');
const config = JSON.parse(readFileSync(file, 'utf8'));
const size = 4 * 64 * 64;

console.log(`| scheduler | network calls | ms per call (median of ${runs} runs of ${steps} steps) |`);
console.log('| --- | --- | --- |');
for (const name of schedulerNames('diffusers')) {
  const times: number[] = [];
  let calls = 0;
  for (let r = 0; r < runs; r++) {
    const s = createScheduler(config, file, name);
    const rng = new Rng(r);
    s.setTimesteps(steps);
    let x = rng.normalArray(size).map((v) => v * s.initNoiseSigma);
    const eps = rng.normalArray(size);
    const t0 = performance.now();
    for (const t of s.timesteps) {
      s.scaleModelInput(x, t);
      x = s.step(eps, t, x, rng);
    }
    times.push((performance.now() - t0) / s.timesteps.length);
    calls = s.timesteps.length;
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${calls} | ${times[Math.floor(runs / 2)].toFixed(3)} |`);
}
