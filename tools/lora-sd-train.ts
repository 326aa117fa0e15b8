/**
 * The trainer's LoRA run over an SD-size export whose weights stay in its external data
 * (src/train/frozen-weights.ts), timed per stage: what `train --init MODEL --lora RANK` does, with
 * the wall time and RSS printed at the session's creation and after each step.
 *   /usr/bin/time -v node --import tsx tools/lora-sd-train.ts \
 *     MODEL.onnx CONFIG.json DATA_DIR OUT [steps] [recompute|no-recompute] [resume]
 */
import { train } from '../src/train/trainer';

const [model, config, data, out, stepsArg, rec, resume] = process.argv.slice(2);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const t0 = performance.now();
let last = t0;
const log = (s: string) => {
  const now = performance.now();
  const at = `${((now - t0) / 1000).toFixed(1)} s (+${((now - last) / 1000).toFixed(1)})`;
  console.log(`[${at}, rss ${mb(process.memoryUsage().rss)}, peak ${mb(process.resourceUsage().maxRSS * 1024)}] ${s}`);
  last = now;
};

async function main() {
  const steps = Number(stepsArg ?? 2);
  const onStep = (s: { step: number; loss: number }) => log(`step ${s.step}: loss ${s.loss.toFixed(4)}`);
  const r = resume === 'resume'
    ? await train({ resume: out, steps, onStep, threads: 2 })
    : await train({
      init: model, config, data: `manifest:${data}`, lora: { rank: 4 }, batch: 1, steps, sampleEvery: 0, threads: 2, out,
      recompute: rec === undefined ? undefined : rec === 'recompute', onStep,
    });
  log(`done: ${r.steps} steps, losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}`);
}
void main();
