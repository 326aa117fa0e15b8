import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { readModelConfig } from '../../src/core/model-config';
import { createSampler } from '../../src/diffusion/sampler';
import { buildModel, loadRecipe } from '../../src/nn';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { DiffusionModel, OrtApi } from '../../src/runtime/model';
import { loadState } from '../../src/train/checkpoint';
import { flattenParams, trainableLayout } from '../../src/train/params';
import { train } from '../../src/train/trainer';
import { Browser, launchChromium } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, StaticServer } from '../../tools/web/serve';
import { fixture, repoRoot } from '../helpers/paths';

const SIZE = 16;
const N_IMAGES = 8;
const BATCH = 4;
const STEPS = 10;

/** Eight 16x16 grey discs of different radius and centre: something a UNet can learn from. */
function discs(): number[][] {
  return Array.from({ length: N_IMAGES }, (_, i) => {
    const cx = 5 + (i % 4) * 2;
    const cy = 6 + (i >> 2) * 3;
    const r = 3 + (i % 3);
    return Array.from({ length: SIZE * SIZE }, (_, p) => {
      const d = Math.hypot((p % SIZE) - cx, Math.floor(p / SIZE) - cy);
      return Math.max(0, Math.min(255, Math.round(255 * (r + 0.5 - d))));
    });
  });
}

/**
 * Runs `body` in the page with `lib` (the bundle), `images` (the discs as ImageData), `b64` and
 * `fromB64` in scope. A string, so tsx's transform (which names functions through a helper) does
 * not reach the page.
 */
function inPage<T>(page: Page, body: string, args: Record<string, unknown> = {}): Promise<T> {
  return page.evaluate(`(async () => {
    const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
    const args = ${JSON.stringify(args)};
    const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
    const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const images = (args.pixels ?? []).map((p) => {
      const d = new ImageData(${SIZE}, ${SIZE});
      p.forEach((v, i) => { d.data[4 * i] = d.data[4 * i + 1] = d.data[4 * i + 2] = v; d.data[4 * i + 3] = 255; });
      return d;
    });
    ${body}
  })()`) as Promise<T>;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function weightsOf(bytes: Uint8Array): Float32Array {
  const g = decodeModel(bytes).graph;
  return flattenParams(g, trainableLayout(g));
}

async function sampleInNode(bytes: Uint8Array, config?: unknown): Promise<Float32Array> {
  const model = await DiffusionModel.create(ort as unknown as OrtApi, bytes, { source: 'exported', config });
  try {
    return (await createSampler(model, { sampler: 'ddim', steps: 5, seed: 7 }).sample(2)).images;
  } finally {
    await model.release();
  }
}

describe('web: fine-tuning in Chromium (createTrainer)', function () {
  this.timeout(300000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let modelPath: string;
  const pixels = discs();

  before(async () => {
    browser = await launchChromium();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-webtrain-'));
    const site = path.join(dir, 'site');
    await buildWeb({ outDir: site, webgpu: false });
    fs.mkdirSync(path.join(site, 'models'), { recursive: true });
    modelPath = path.join(site, 'models', 'unet-tiny.onnx');
    fs.writeFileSync(modelPath, encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 })));
    fs.copyFileSync(fixture('torch-unet-16px.onnx'), path.join(site, 'models', 'torch-unet-16px.onnx'));
    fs.copyFileSync(fixture('torch-unet-16px.json'), path.join(site, 'models', 'torch-unet-16px.json'));
    fs.copyFileSync(path.join(repoRoot(), 'models/fashion-mnist/model.onnx'), path.join(site, 'models', 'fashion-mnist.onnx'));
    fs.copyFileSync(path.join(repoRoot(), 'models/fashion-mnist/model.fp16.onnx'), path.join(site, 'models', 'fashion-mnist.fp16.onnx'));
    server = await serveStatic({ dir: site });
    page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}style.css`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${STEPS} steps in the page equal ${STEPS} steps of the Node trainer (same images, seed, batch): loss and weights`, async () => {
    // Node: the CLI trainer on a folder of the same images as PNG files.
    const data = path.join(dir, 'discs');
    fs.mkdirSync(data);
    for (const [i, p] of pixels.entries()) {
      await sharp(Buffer.from(p), { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(path.join(data, `disc-${i}.png`));
    }
    const out = path.join(dir, 'node-run');
    const node = await train({ init: modelPath, data: `folder:${data}`, steps: STEPS, batch: BATCH, seed: 0, out, threads: 1 });
    const nodeState = loadState(out);
    const nodeEma = weightsOf(fs.readFileSync(path.join(out, 'model.onnx')));

    const page1 = await inPage<{ losses: number[]; raw: string; ema: string; backend: string; threads: number }>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const trainer = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: ${STEPS}, batch: ${BATCH}, seed: 0, numThreads: 1 });
      const res = await trainer.fit(data);
      const out = { losses: res.losses, raw: b64(trainer.exportModel({ ema: false })), ema: b64(trainer.exportModel()), backend: trainer.backend };
      await trainer.release();
      return out;
    `, { pixels });
    assert.equal(page1.backend, 'wasm');
    assert.equal(page1.losses.length, STEPS);
    let worstLoss = 0;
    node.losses.forEach((l, i) => {
      const rel = Math.abs(page1.losses[i] - l) / Math.abs(l);
      worstLoss = Math.max(worstLoss, rel);
      assert.ok(rel < 1e-4, `step ${i + 1}: loss ${page1.losses[i]} in the page, ${l} in Node (relative ${rel.toExponential(2)})`);
    });
    const raw = weightsOf(Buffer.from(page1.raw, 'base64'));
    const ema = weightsOf(Buffer.from(page1.ema, 'base64'));
    const dRaw = maxAbsDiff(raw, nodeState.vec.params);
    const dEma = maxAbsDiff(ema, nodeEma);
    console.log(`      page vs Node after ${STEPS} steps: loss rel ${worstLoss.toExponential(2)}, weights max-abs ${dRaw.toExponential(2)}, EMA ${dEma.toExponential(2)}`);
    assert.ok(dRaw < 1e-4, `raw weights differ by ${dRaw}`);
    assert.ok(dEma < 1e-4, `EMA weights differ by ${dEma}`);
  });

  it('loss falls over 30 steps on unet-tiny; saveState/loadState resumes the same steps; the export loads in Node and samples with its metadata', async () => {
    const res = await inPage<{ losses: number[]; resumed: number[]; continued: number[]; model: string }>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const opts = { steps: 34, batch: 8, seed: 3, lr: 2e-3, numThreads: 1 };
      const a = await lib.createTrainer('models/unet-tiny.onnx', undefined, opts);
      const first = await a.fit(data, { steps: 30 });
      const state = a.saveState();
      const continued = (await a.fit(data, { steps: 4 })).losses;
      const b = await lib.createTrainer('models/unet-tiny.onnx', undefined, opts);
      b.loadState(state, data);
      const resumed = (await b.fit(data, { steps: 4 })).losses;
      const model = b64(b.exportModel());
      await a.release(); await b.release();
      return { losses: first.losses, resumed, continued, model };
    `, { pixels });
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const [head, tail] = [mean(res.losses.slice(0, 5)), mean(res.losses.slice(-5))];
    assert.ok(tail < 0.7 * head, `loss should fall: first 5 steps ${head.toFixed(4)}, last 5 ${tail.toFixed(4)}`);
    assert.deepEqual(res.resumed, res.continued, 'a restored state continues with the same losses');
    const bytes = Buffer.from(res.model, 'base64');
    const meta = readModelConfig(decodeModel(bytes).metadata, 'exported')!;
    const orig = readModelConfig(decodeModel(fs.readFileSync(modelPath)).metadata, 'unet-tiny')!;
    assert.deepEqual(meta.recipe, orig.recipe);
    assert.deepEqual(meta.diffusion, orig.diffusion);
    assert.equal(meta.training?.step, 34);
    const x = await sampleInNode(bytes);
    assert.equal(x.length, 2 * SIZE * SIZE);
    assert.ok(x.every(Number.isFinite));
  });

  it('fine-tunes the PyTorch fixture in the page (foreign model, step graph built client-side)', async () => {
    const res = await inPage<{ losses: number[]; model: string }>(page, `
      const config = await (await fetch('models/torch-unet-16px.json')).json();
      const data = await lib.imageDataset(images, { channels: 1, size: 16 });
      const trainer = await lib.createTrainer('models/torch-unet-16px.onnx', config, { steps: 20, batch: 4, numThreads: 1 });
      const r = await trainer.fit(data, { steps: 3 });
      const model = b64(trainer.exportModel());
      await trainer.release();
      return { losses: r.losses, model };
    `, { pixels });
    assert.equal(res.losses.length, 3);
    assert.ok(res.losses.every((l) => Number.isFinite(l) && l > 0), `losses ${res.losses}`);
    // The export carries the config it was given, so Node loads it without one.
    const x = await sampleInNode(Buffer.from(res.model, 'base64'));
    assert.ok(x.every(Number.isFinite));
  });

  it('cancelling mid-run (AbortSignal) stops between steps and leaves a trainer that steps, exports and samples', async () => {
    const res = await inPage<{ stopped: string; steps: number; after: number; more: number; sampled: number }>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const trainer = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: 50, batch: 4, numThreads: 1 });
      const ctrl = new AbortController();
      const r = await trainer.fit(data, { signal: ctrl.signal, onStep: (s) => { if (s.step === 2) ctrl.abort(); } });
      const more = await trainer.fit(data, { steps: 1 });
      const model = await lib.loadModel(trainer.exportModel(), { numThreads: 1 });
      const out = await lib.createSampler(model, { steps: 3, seed: 1 }).sample(1);
      await trainer.release();
      return { stopped: r.stopped, steps: r.steps, after: trainer.stepCount, more: more.steps, sampled: out.images.length };
    `, { pixels });
    assert.deepEqual(res, { stopped: 'cancelled', steps: 2, after: 3, more: 1, sampled: SIZE * SIZE });
  });

  it('fine-tunes a half-stored (export --fp16) model in float32 and exports float32 weights', async () => {
    const res = await inPage<{ loss: number; model: string }>(page, `
      const trainer = await lib.createTrainer('models/fashion-mnist.fp16.onnx', undefined, { batch: 2, steps: 10, lr: 1e-5, numThreads: 1 });
      const r = await trainer.step({ x: new Float32Array(2 * 32 * 32).fill(-1) });
      const model = b64(trainer.exportModel());
      await trainer.release();
      return { loss: r.loss, model };
    `);
    assert.ok(Number.isFinite(res.loss) && res.loss > 0, `loss ${res.loss}`);
    const g = decodeModel(Buffer.from(res.model, 'base64')).graph;
    assert.ok([...g.initializers.values()].every((t) => t.dtype !== 'float16'), 'no float16 initializers left');
    assert.equal(readModelConfig(decodeModel(Buffer.from(res.model, 'base64')).metadata, 'fp16 export')?.training?.step, 1);
  });

  it('refuses a step too large for the WASM heap before the first step, naming the batch that fits', async () => {
    const msg = await inPage<string>(page, `
      return lib.createTrainer('models/fashion-mnist.onnx', undefined, { batch: 1024 }).then(() => 'created', (e) => e.message);
    `);
    assert.match(msg, /^models\/fashion-mnist\.onnx: a training step at batch 1024 needs about [\d.]+ GiB, more than the WASM heap \(4 GiB, wasm32\); batch \d+ would fit$/);
    console.log(`      ${msg}`);
    const fit = Number(/batch (\d+) would fit/.exec(msg)![1]);
    assert.ok(fit >= 16 && fit < 1024, `suggested batch ${fit}`);
  });

  it('the fine-tuning page (train.html) fine-tunes the shipped model on a sample class, draws the loss and samples, and offers the model', async () => {
    const demo = await browser.context.newPage();
    const errors: string[] = [];
    demo.on('pageerror', (e) => errors.push(e.message));
    await demo.goto(`${server.url}train.html?threads=1`);
    await demo.evaluate('window.__train.ready');
    assert.match((await demo.textContent('#model-info')) ?? '', /fashion-mnist\.onnx: 32×32×1 · trained \d+ steps/);
    const run = 'window.__train.addSample(8, 4), window.__train.run({ steps: 6, batch: 4, sampleEvery: 3, lr: 1e-4, sampleImages: 2, sampleSteps: 4 })';
    const res = await demo.evaluate(run) as { losses: number[]; steps: number; sampledAt: number[] };
    assert.equal(res.steps, 6);
    assert.deepEqual(res.sampledAt, [3, 6]);
    assert.ok(res.losses.every(Number.isFinite));
    assert.match((await demo.textContent('#progress')) ?? '', /^Done: 6 steps/);
    assert.equal(await demo.isEnabled('#download'), true);
    assert.match((await demo.textContent('#samples-caption')) ?? '', /after 6 steps/);
    const bytes = Buffer.from(await demo.evaluate('window.__train.exportModel()') as string, 'base64');
    assert.equal(readModelConfig(decodeModel(bytes).metadata, 'page export')?.training?.step, 6);
    assert.deepEqual(errors, []);
    const shots = path.join(repoRoot(), 'test-artifacts');
    fs.mkdirSync(shots, { recursive: true });
    await demo.screenshot({ path: path.join(shots, 'web-train.png'), fullPage: true });
    await demo.close();
  });
});
