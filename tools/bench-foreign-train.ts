/**
 * Benchmark (not a test): full fine-tune of a foreign export as exported (diffusers/optimum UNet),
 * with and without --recompute: seconds per step (after the first), peak RSS, the step graph's
 * memory estimate. Run big models one at a time (an SD-size step takes several GB).
 *   node --import tsx tools/bench-foreign-train.ts MODEL.onnx CONFIG.json [--steps 4] [--batch 2] [--recompute] [--data SPEC]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const sarg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

(async () => {
  const [model, config] = process.argv.slice(2);
  const steps = arg('steps', 4);
  const batch = arg('batch', 2);
  const recompute = process.argv.includes('--recompute');
  const threads = arg('threads', availableParallelism());
  const out = mkdtempSync(join(tmpdir(), 'bench-foreign-'));
  const times: number[] = [];
  let last = performance.now();
  const started = last;
  const r = await train({
    init: model, config, steps, batch, threads, out, warmup: 0, sampleEvery: 0, saveEvery: 10 ** 9, recompute, data: sarg('data'),
    onStep: () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
    },
  });
  const later = times.slice(1);
  console.table([{
    model, batch, threads, recompute, steps,
    'first step s': (times[0] / 1000).toFixed(1),
    's/step': (later.reduce((a, b) => a + b, 0) / later.length / 1000).toFixed(2),
    'total s': ((performance.now() - started) / 1000).toFixed(0),
    'peak RSS GiB': (process.resourceUsage().maxRSS / 2 ** 20).toFixed(2),
    losses: r.losses.map((l) => l.toFixed(3)).join(' '),
  }]);
  rmSync(out, { recursive: true, force: true });
})();
