/**
 * Benchmark (not a test): `train` throughput for unet-fashion-mnist on the embedded data (CPU).
 *   node --import tsx tools/bench-train.ts [--steps 20] [--batch 64] [--threads N]
 * Prints images/s, the share of wall time outside session.run (data, noise, copies), peak RSS.
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { train } from '../src/train/trainer';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

(async () => {
  const steps = arg('steps', 20);
  const batch = arg('batch', 64);
  const threads = arg('threads', availableParallelism());
  const out = mkdtempSync(join(tmpdir(), 'bench-train-'));
  let t0 = 0;
  let measured = 0;
  const r = await train({
    recipe: resolve(__dirname, '../graphs/unet-fashion-mnist.json'), steps, batch, threads, out, saveEvery: 10 ** 9,
    // The first step includes session warm-up; time the rest.
    onStep: (s) => { if (s.step === 1) t0 = performance.now(); else measured = performance.now() - t0; },
  });
  const ips = ((steps - 1) * batch) / (measured / 1000);
  console.table([{
    model: 'unet-fashion-mnist', batch, threads, steps,
    'ms/step': (measured / (steps - 1)).toFixed(0), 'images/s': ips.toFixed(1),
    'outside session.run %': (100 * r.hostShare).toFixed(1),
    'peak RSS MiB': (process.resourceUsage().maxRSS / 1024).toFixed(0),
  }]);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
