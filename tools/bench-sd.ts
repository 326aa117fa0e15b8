/**
 * Benchmark (not a test): seconds per image of the Stable Diffusion pipeline in Node.
 *   node --import tsx tools/bench-sd.ts [--steps 25] [--runs 3] [--threads N] [--device cpu|cuda]
 *       [--sd15 DIR_OF_AN_SD15_UNET_EXPORT] [--latent 32]
 * 1. The tiny-sd fixture (test/fixtures/tiny-sd): whole pipeline, guidance 7.5, DDIM, 16x16 latents.
 * 2. With --sd15 DIR (model.onnx + weights.pb of an SD-1.5-size UNet): the same pipeline with that
 *    UNet, at `--latent` x `--latent` latents. No SD-size text encoder or VAE exists here, so the
 *    folder pairs the UNet with a stand-in text encoder (a Gather from a random 1000 x 768 table,
 *    giving SD's [1, 77, 768] context) and the fixture's VAE decoder: the UNet is the cost that
 *    matters (2 x 25 evaluations against 1 text-encoder and 1 VAE run). Run it under
 *    one at a time (the UNet session takes several GB).
 * 3. With --web: the fixture in headless Chromium (the browser bundle, onnxruntime-web WASM, 1 thread).
 * 4. With --pipeline DIR (a whole diffusers ONNX folder, e.g. the SD-1.5-size one that
 *    tools/export-sd15-pipeline.py writes), skipping 1-3: each part timed on its own, then the whole
 *    txt2img call, at each of `--latents 32,64`:
 *      node --import tsx tools/bench-sd.ts --pipeline DIR [--latents 32,64] [--steps 25] [--measure-steps K]
 *    tokenize; the text encoder (one prompt; a guided image encodes two); the VAE encoder on one
 *    picture (what caption encoding pays per picture); the VAE decoder; then one call of the pipeline
 *    (guidance 7.5, the folder's scheduler, `--steps` steps) timed to its end, or, with
 *    `--measure-steps K`, stopped by its AbortSignal after K guided steps (the schedule is still
 *    `--steps` long), the whole image then composed as encode x 2 + UNet calls x median step + decode
 *    (the schedule's UNet calls: steps + 1 for PNDM, whose first timestep diffusers runs twice).
 *    Prints the load average before and after each row and the process's peak RSS.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from '../src/onnx/onnx-proto';
import { Rng } from '../src/core/rng';
import { loadStableDiffusion } from '../src/runtime/sd';
import { launchChromium } from './web/browser';
import { buildWeb } from './web/build';
import { serveStatic } from './web/serve';

const arg = (name: string, d?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const steps = Number(arg('steps', '25'));
const runs = Number(arg('runs', '3'));
const threads = Number(arg('threads', String(os.availableParallelism())));
const device = arg('device', 'cpu') as 'cpu' | 'cuda';
const FIXTURE = path.resolve(__dirname, '..', 'test', 'fixtures', 'tiny-sd');

/** A text encoder stand-in: last_hidden_state = table[input_ids], table 1000 x width of N(0, 1). */
function standInTextEncoder(width: number): Uint8Array {
  const table = new Rng(0).normalArray(1000 * width);
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'bench-sd stand-in',
    graph: {
      name: 'text_encoder',
      node: [{ opType: 'Gather', input: ['table', 'input_ids'], output: ['last_hidden_state'], name: 'embed' }],
      initializer: [{ name: 'table', dims: [1000, width], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(table.buffer) }],
      input: [{ name: 'input_ids', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT32, shape: { dim: [{ dimValue: 1 }, { dimValue: 77 }] } } } }],
      output: [{
        name: 'last_hidden_state',
        type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 77 }, { dimValue: width }] } } },
      }],
    },
  }).finish();
}

async function bench(label: string, dir: string, size: number): Promise<void> {
  const t0 = performance.now();
  const gen = await loadStableDiffusion(dir, { threads, device });
  const load = (performance.now() - t0) / 1000;
  const times: number[] = [];
  let unet = 0;
  for (let r = 0; r < runs; r++) {
    let last = performance.now();
    const stepMs: number[] = [];
    const t = performance.now();
    await gen({
      prompt: 'a red shoe', steps, seed: r, height: size, width: size,
      onStep: () => { const now = performance.now(); stepMs.push(now - last); last = now; },
    });
    times.push((performance.now() - t) / 1000);
    stepMs.sort((a, b) => a - b);
    unet = stepMs[Math.floor(stepMs.length / 2)] / 1000;
  }
  await gen.release();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`| ${label} | ${steps} | ${median.toFixed(2)} | ${Math.min(...times).toFixed(2)} | ${unet.toFixed(3)} | ${load.toFixed(1)} |`);
}

/** The fixture through the browser bundle in headless Chromium. */
async function benchWeb(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sd-web-'));
  await buildWeb({ outDir: path.join(dir, 'site'), webgpu: false, train: false });
  fs.symlinkSync(FIXTURE, path.join(dir, 'site', 'tiny-sd'));
  const server = await serveStatic({ dir: path.join(dir, 'site') });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}tiny-sd/model_index.json`);
    const r = await page.evaluate(`(async () => {
      const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
      const t0 = performance.now();
      const gen = await lib.pipeline(new URL('/tiny-sd/', location.href).href, { numThreads: 1 });
      const load = performance.now() - t0;
      const times = [];
      for (let r = 0; r < ${runs}; r++) {
        const t = performance.now();
        await gen({ prompt: 'a red shoe', steps: ${steps}, seed: r, height: 128, width: 128 });
        times.push(performance.now() - t);
      }
      await gen.release();
      return { load, times };
    })()`) as { load: number; times: number[] };
    const times = r.times.map((t) => t / 1000).sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const cells = [steps, median.toFixed(2), times[0].toFixed(2), '', (r.load / 1000).toFixed(1)];
    console.log(`| tiny-sd fixture, 16x16 latents, Chromium WASM 1 thread | ${cells.join(' | ')} |`);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const peakMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const load = () => os.loadavg()[0].toFixed(1);

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, (performance.now() - t) / 1000];
}

/** Part by part, then the whole txt2img call, on a real diffusers ONNX folder. */
async function benchPipeline(dir: string): Promise<void> {
  const sizes = (arg('latents', '32') as string).split(',').map(Number);
  const measure = Number(arg('measure-steps', '0'));
  const prompt = 'a photograph of an astronaut riding a horse';
  console.log(`${new Date().toISOString()}, ${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, ${threads} threads, ${device}; load average ${load()}`);
  const [gen, loadS] = await timed(() => loadStableDiffusion(dir, { threads, device }));
  console.log(`loaded ${dir} in ${loadS.toFixed(1)} s (text encoder, UNet, VAE decoder sessions); peak RSS ${peakMiB()} MiB`);
  const sd = gen.sd;
  const [, tok] = await timed(() => sd.parts.tokenizer.encode(prompt));
  await sd.encodePrompt(''); // warm-up
  const enc: number[] = [];
  for (let r = 0; r < 3; r++) enc.push((await timed(() => sd.encodePrompt(prompt)))[1]);
  enc.sort((a, b) => a - b);
  console.log(`tokenize ${(tok * 1000).toFixed(1)} ms; text encoder ${enc[1].toFixed(3)} s per prompt (median of 3, best ${enc[0].toFixed(3)}); load average ${load()}; peak RSS ${peakMiB()} MiB`);
  console.log('| latents (px) | VAE encoder s / picture | VAE decoder s | guided steps timed | s per guided step (median) | s / image at ' + steps + ' steps | measured or composed | load before / after | peak RSS MiB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const size of sizes) {
    const px = size * sd.parts.vaeScaleFactor;
    const before = load();
    const img = new Rng(1).normalArray(3 * px * px).map((v) => Math.max(-1, Math.min(1, v / 2)));
    await sd.encodeImages(img, 1, px, px); // the first run creates the session and warms it
    const [, vaeEnc] = await timed(() => sd.encodeImages(img, 1, px, px));
    const lat = new Rng(2).normalArray(4 * size * size).map((v) => v * 0.18215);
    const [, vaeDec] = await timed(() => sd.decodeLatents(lat, [1, 4, size, size]));
    const stepMs: number[] = [];
    const abort = new AbortController();
    let last = performance.now();
    const t0 = performance.now();
    let total: number | undefined;
    try {
      await gen({
        prompt, steps, seed: 0, height: px, width: px, signal: abort.signal,
        onStep: ({ step }) => {
          const now = performance.now();
          stepMs.push(now - last);
          last = now;
          if (measure > 0 && step + 1 >= measure) abort.abort();
        },
      });
      total = (performance.now() - t0) / 1000;
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
    // the first step's time includes the two prompt encodings
    const loop = stepMs.slice(1).sort((a, b) => a - b);
    const median = (loop.length ? loop[Math.floor(loop.length / 2)] : stepMs[0]) / 1000;
    // UNet calls in the schedule: PNDM with skip_prk_steps makes steps + 1 (diffusers repeats its first timestep)
    const sched = sd.scheduler();
    sched.setTimesteps(steps);
    const calls = sched.timesteps.length;
    const composed = 2 * enc[1] + calls * median + vaeDec;
    const image = total ?? composed;
    console.log(`| ${size}x${size} (${px}) | ${vaeEnc.toFixed(2)} | ${vaeDec.toFixed(2)} | ${stepMs.length} | ${median.toFixed(2)} | ${image.toFixed(1)} | ${total !== undefined ? 'measured' : `composed: 2 x ${enc[1].toFixed(2)} + ${calls} x ${median.toFixed(2)} + ${vaeDec.toFixed(2)}`} | ${before} / ${load()} | ${peakMiB()} |`);
  }
  await gen.release();
}

async function main(): Promise<void> {
  const whole = arg('pipeline');
  if (whole) return benchPipeline(whole);
  const cpu = `${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}`;
  console.log(`${new Date().toISOString().slice(0, 10)}, ${cpu}, ${threads} threads, ${device}, load average ${os.loadavg()[0].toFixed(1)}`);
  console.log('| pipeline | steps | s/image (median) | s/image (best) | s per guided step (median) | load s |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  // the fixture has no vae config: diffusers' 8x is assumed, so 128 px gives its 16x16 latents
  await bench('tiny-sd fixture, 16x16 latents', FIXTURE, 128);
  if (process.argv.includes('--web')) await benchWeb();
  const sd15 = arg('sd15');
  if (sd15) {
    const latent = Number(arg('latent', '32'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sd15-'));
    for (const sub of ['tokenizer', 'scheduler', 'vae_decoder']) fs.symlinkSync(path.join(FIXTURE, sub), path.join(dir, sub));
    fs.symlinkSync(path.resolve(sd15), path.join(dir, 'unet'));
    fs.mkdirSync(path.join(dir, 'text_encoder'));
    fs.writeFileSync(path.join(dir, 'text_encoder', 'model.onnx'), standInTextEncoder(768));
    try {
      await bench(`SD-1.5-size UNet (859.5 M), ${latent}x${latent} latents`, dir, latent * 8);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
