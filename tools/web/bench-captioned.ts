/**
 * Captioned LoRA training of a diffusers ONNX folder, page against Node: seconds to encode a
 * picture and its caption, and seconds per LoRA step, in headless Chromium (onnxruntime-web WASM,
 * `createTrainer(folderUrl, { data, lora })`) and in Node (onnxruntime-node CPU,
 * `train({ init, data: 'captions:...', lora })`), one after the other on the same eight pictures
 * and options. Prints a Markdown table.
 *
 *   node --import tsx tools/web/bench-captioned.ts [DIR] [--steps 20] [--batch 2] [--resolution 32] [--threads 1]
 *
 * DIR defaults to test/fixtures/tiny-sd. Encoding is timed per picture after the first (the first
 * also opens the VAE encoder's session); steps after the first.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { train } from '../../src/train/trainer';
import { launchChromium } from './browser';
import { buildWeb } from './build';
import { serveStatic } from './serve';

const COLOURS: [string, string][] = [['red', '#d02020'], ['blue', '#2040d0'], ['green', '#20b040'], ['yellow', '#e0d020']];

/**
 * Eight 32x32 pictures (a coloured square or disc on grey) with same-named .txt captions, and a
 * metadata.jsonl listing them in the same (name) order, so Node's `captions:DIR` and a page reading
 * the folder by URL see the same set.
 */
export async function makeCaptionedPictures(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  let k = 0;
  for (const [name, hex] of COLOURS) {
    for (const shape of ['square', 'circle']) {
      const body = shape === 'square' ? `<rect x="8" y="8" width="16" height="16" fill="${hex}"/>` : `<circle cx="16" cy="16" r="9" fill="${hex}"/>`;
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="#808080"/>${body}</svg>`;
      await sharp(Buffer.from(svg)).png().toFile(path.join(dir, `p${k}.png`));
      fs.writeFileSync(path.join(dir, `p${k}.txt`), `a ${name} ${shape}`);
      lines.push(JSON.stringify({ file_name: `p${k}.png`, text: `a ${name} ${shape}` }));
      k++;
    }
  }
  fs.writeFileSync(path.join(dir, 'metadata.jsonl'), `${lines.join('\n')}\n`);
}

export interface CaptionedTimes {
  /** Milliseconds per picture and caption (after the first). */
  encode: number;
  /** Milliseconds per step (after the first). */
  step: number;
}

/** Per-picture and per-step times from the callbacks' timestamps. */
export function timesOf(encodedAt: number[], stepAt: number[]): CaptionedTimes {
  return { encode: (encodedAt.at(-1)! - encodedAt[0]) / (encodedAt.length - 1), step: (stepAt.at(-1)! - stepAt[0]) / (stepAt.length - 1) };
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : path.join(__dirname, '..', '..', 'test', 'fixtures', 'tiny-sd'));
  const run = { steps: arg('steps', 20), batch: arg('batch', 2), resolution: arg('resolution', 32), lr: 1e-4, warmup: 0 };
  const threads = arg('threads', 1);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-captioned-web-'));
  const site = path.join(tmp, 'site');
  try {
    await buildWeb({ outDir: site, webgpu: false, train: false });
    fs.symlinkSync(dir, path.join(site, 'model'));
    await makeCaptionedPictures(path.join(site, 'pics'));
    const enc: number[] = [];
    const steps: number[] = [];
    await train({
      init: dir, data: `captions:${path.join(site, 'pics')}`, lora: { rank: 4 }, ...run, threads, out: path.join(tmp, 'run'), sampleEvery: 0,
      onEncode: () => enc.push(performance.now()), onStep: () => steps.push(performance.now()),
    });
    const node = timesOf(enc, steps);
    const server = await serveStatic({ dir: site });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}model/model_index.json`);
      const web = await page.evaluate(`(async () => {
        const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
        const enc = [], steps = [];
        const t = await lib.createTrainer('/model/', { data: '/pics/', lora: 4, ...${JSON.stringify(run)}, numThreads: ${threads},
          onEncode: () => enc.push(performance.now()), onStep: () => steps.push(performance.now()) });
        await t.fit();
        await t.dispose();
        return { encode: (enc.at(-1) - enc[0]) / (enc.length - 1), step: (steps.at(-1) - steps[0]) / (steps.length - 1) };
      })()`) as CaptionedTimes;
      const s = (ms: number) => (ms / 1000).toFixed(3);
      console.log(`${path.basename(dir)}, 8 pictures of ${run.resolution} px, LoRA rank 4, batch ${run.batch}, ${run.steps} steps, ${threads} thread(s), ${browser.version}\n`);
      console.log('| | s to encode a picture and its caption | s per LoRA step |');
      console.log('| --- | --- | --- |');
      console.log(`| page (onnxruntime-web WASM) | ${s(web.encode)} | ${s(web.step)} |`);
      console.log(`| Node (onnxruntime-node CPU) | ${s(node.encode)} | ${s(node.step)} |`);
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
