/**
 * Captioned training on a diffusers ONNX folder: caption/picture encoding time and seconds per
 * step, full and LoRA. Usage:
 *   node --import tsx tools/bench-captioned.ts [DIR] [--pictures N] [--steps N] [--batch B] [--resolution PX] [--only full|lora] [--rank R]
 * (default: test/fixtures/tiny-sd, 8 pictures made here, 10 steps, batch 2, 32 px, both runs, rank 4).
 * On the SD-1.5-size folder (tools/export-sd15-pipeline.py) run `--only lora --batch 1`: a full
 * fine-tune of 860 M parameters does not fit in memory here. Each row says the load average before
 * and after, and the process's peak RSS so far.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { train } from '../src/train/trainer';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const dir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : join(__dirname, '..', 'test', 'fixtures', 'tiny-sd');
  const n = arg('pictures', 8), steps = arg('steps', 10), batch = arg('batch', 2), resolution = arg('resolution', 32);
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const rank = arg('rank', 4);
  const tmp = mkdtempSync(join(tmpdir(), 'bench-captioned-'));
  try {
    const pics = join(tmp, 'pics');
    mkdirSync(pics);
    for (let k = 0; k < n; k++) {
      const hue = Math.round((360 * k) / n);
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${resolution}" height="${resolution}"><rect width="100%" height="100%" fill="#808080"/><circle cx="50%" cy="50%" r="30%" fill="hsl(${hue},80%,50%)"/></svg>`;
      await sharp(Buffer.from(svg)).png().toFile(join(pics, `p${k}.png`));
      writeFileSync(join(pics, `p${k}.txt`), `a circle of hue ${hue}`);
    }
    console.log(`${new Date().toISOString()}, ${dir}, ${resolution} px, ${steps} steps`);
    console.log('| run | pictures | batch | encode s (all) | encode s / picture | setup + encode + first step s | s/step (after the first) | load before / after | peak RSS MiB |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const lora of [false, true].filter((l) => only === undefined || only === (l ? 'lora' : 'full'))) {
      const before = loadavg()[0].toFixed(1);
      let t0 = 0, encodeStart = 0, encodeEnd = 0;
      const stepAt: number[] = [];
      t0 = performance.now();
      await train({
        init: dir, data: `captions:${pics}`, resolution, steps, batch, out: join(tmp, lora ? 'lora' : 'full'), sampleEvery: 0, warmup: 0,
        lora: lora ? { rank } : undefined,
        onEncode: (e) => {
          if (e.done === 1) encodeStart = performance.now();
          encodeEnd = performance.now();
        },
        onStep: () => stepAt.push(performance.now()),
      });
      // encodeStart is after the first picture; add one picture's mean time back.
      const encode = ((encodeEnd - encodeStart) / 1000) * (n / Math.max(1, n - 1));
      const perStep = (stepAt[stepAt.length - 1] - stepAt[0]) / 1000 / (stepAt.length - 1);
      const peak = Math.round(process.resourceUsage().maxRSS / 1024);
      console.log(`| ${lora ? `LoRA r${rank}` : 'full'} | ${n} | ${batch} | ${encode.toFixed(2)} | ${(encode / n).toFixed(2)} | ${((stepAt[0] - t0) / 1000).toFixed(1)} | ${perStep.toFixed(3)} | ${before} / ${loadavg()[0].toFixed(1)} | ${peak} |`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
