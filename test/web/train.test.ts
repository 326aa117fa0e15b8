import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { configFromJson, readModelConfig } from '../../src/core/model-config';
import { loadModel } from '../../src/index';
import { decodeModel } from '../../src/onnx/proto';
import { loadState } from '../../src/train/checkpoint';
import { train } from '../../src/train/trainer';
import { fixture, repoRoot } from '../helpers/paths';
import { discs, inPage, maxAbsDiff, openTrainSite, sampleInNode, SIZE, TrainSite, weightsOf } from './train-site';

const BATCH = 4;
const STEPS = 10;

describe('web: fine-tuning in Chromium (createTrainer)', function () {
  this.timeout(300000);
  let site: TrainSite;
  let dir: string;
  let page: Page;
  let modelPath: string;
  const pixels = discs();

  before(async () => {
    site = await openTrainSite();
    ({ dir, page, modelPath } = site);
  });

  after(async () => {
    await site?.close();
  });

  it(`${STEPS} steps in the page equal ${STEPS} steps of the Node trainer (same images, seed, batch): loss and weights`, async () => {
    // Node: the CLI trainer on a folder of the same images as PNG files.
    const data = path.join(dir, 'discs');
    fs.mkdirSync(data);
    for (const [i, p] of pixels.entries()) {
      await sharp(Buffer.from(p), { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(path.join(data, `disc-${i}.png`));
    }
    const out = path.join(dir, 'node-run');
    // An explicit EMA (the cosine default has none), so the page's average is checked too.
    const node = await train({ init: modelPath, data: `folder:${data}`, steps: STEPS, batch: BATCH, seed: 0, out, threads: 1, emaDecay: 0.999 });
    const nodeState = loadState(out);
    const nodeEma = weightsOf(fs.readFileSync(path.join(out, 'model.onnx')));

    const page1 = await inPage<{ losses: number[]; raw: string; ema: string; backend: string; threads: number }>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const trainer = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: ${STEPS}, batch: ${BATCH}, seed: 0, numThreads: 1, emaDecay: 0.999 });
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

  it('loss falls over 30 steps on unet-tiny; saveState/loadState resumes the same steps; the export loads with Node\'s loadModel, config intact', async () => {
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
    const orig = readModelConfig(decodeModel(fs.readFileSync(modelPath)).metadata, 'unet-tiny')!;
    const model = await loadModel(bytes);
    try {
      const { training, ...config } = model.config;
      assert.equal(training?.step, 34);
      assert.equal(training?.data, 'page images');
      const { training: _none, ...origConfig } = orig;
      assert.deepEqual(config, origConfig, 'the whole config but `training` is the model\'s own');
    } finally {
      await model.release();
    }
    const x = await sampleInNode(bytes);
    assert.equal(x.length, 2 * SIZE * SIZE);
    assert.ok(x.every(Number.isFinite));
  });

  it('loadState refuses a state of another planned length or batch, naming both values', async () => {
    const res = await inPage<string[]>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const make = (o) => lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: 10, batch: 4, numThreads: 1, ...o });
      const a = await make({});
      await a.fit(data, { steps: 1 });
      const state = a.saveState();
      const out = [];
      for (const o of [{ steps: 12 }, { batch: 2 }]) {
        const t = await make(o);
        try { t.loadState(state, data); out.push('loaded'); } catch (e) { out.push(e.message); }
        await t.release();
      }
      const same = await make({});
      same.loadState(state, data);
      out.push(String(same.stepCount));
      await a.release(); await same.release();
      return out;
    `, { pixels });
    assert.deepEqual(res, [
      'loadState: the state is of a run planned for 10 steps, this trainer\'s for 12 (`steps`)',
      'loadState: the state was trained at batch 4, this trainer\'s step graph takes batch 2',
      '1',
    ]);
  });

  it('fine-tunes the PyTorch fixture in the page (foreign model, step graph built client-side); the export has new weights and its config', async () => {
    const res = await inPage<{ losses: number[]; model: string; noConfig: string }>(page, `
      const config = await (await fetch('models/torch-unet-16px.json')).json();
      const data = await lib.imageDataset(images, { channels: 1, size: 16 });
      const trainer = await lib.createTrainer('models/torch-unet-16px.onnx', config, { steps: 20, batch: 4, numThreads: 1 });
      const r = await trainer.fit(data, { steps: 3 });
      const model = b64(trainer.exportModel());
      await trainer.release();
      const noConfig = await lib.createTrainer('models/torch-unet-16px.onnx').then(() => 'created', (e) => e.message);
      return { losses: r.losses, model, noConfig };
    `, { pixels });
    const noConfig = 'models/torch-unet-16px.onnx: the model carries no onnx-diffusion metadata; pass its config (the second argument of createTrainer)';
    assert.equal(res.noConfig, noConfig);
    assert.equal(res.losses.length, 3);
    assert.ok(res.losses.every((l) => Number.isFinite(l) && l > 0), `losses ${res.losses}`);
    const bytes = Buffer.from(res.model, 'base64');
    const moved = maxAbsDiff(weightsOf(bytes), weightsOf(fs.readFileSync(fixture('torch-unet-16px.onnx'))));
    assert.ok(moved > 0, 'training changed the fixture\'s weights');
    // The export carries the config it was given, so Node loads it without one.
    const model = await loadModel(bytes);
    try {
      const { training, ...config } = model.config;
      assert.equal(training?.step, 3);
      assert.deepEqual(config, configFromJson(JSON.parse(fs.readFileSync(fixture('torch-unet-16px.json'), 'utf8')), 'fixture config'));
    } finally {
      await model.release();
    }
    const x = await sampleInNode(bytes);
    assert.ok(x.every(Number.isFinite));
  });

  it('cancelling mid-run (AbortSignal) stops between steps (\'interrupted\', as Node) and leaves a trainer that steps, exports and samples', async () => {
    const res = await inPage<{ stopped: string; steps: number; after: number; more: number; sampled: number; reported: number[] }>(page, `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const reported = [];
      const onStep = (r) => reported.push(r.step, r.totalSteps, Number.isFinite(r.loss) && r.loss > 0 ? 1 : 0);
      const trainer = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: 50, batch: 4, numThreads: 1, onStep });
      const ctrl = new AbortController();
      const r = await trainer.fit(data, { signal: ctrl.signal, onStep: (s) => { if (s.step === 2) ctrl.abort(); } });
      const more = await trainer.fit(data, { steps: 1 });
      const model = await lib.loadModel(trainer.exportModel(), { numThreads: 1 });
      const out = await lib.createSampler(model, { steps: 3, seed: 1 }).sample(1);
      await trainer.release();
      return { stopped: r.stopped, steps: r.steps, after: trainer.stepCount, more: more.steps, sampled: out.images.length, reported };
    `, { pixels });
    // The trainer's own onStep saw every step, those of both fit calls.
    assert.deepEqual(res, { stopped: 'interrupted', steps: 2, after: 3, more: 1, sampled: SIZE * SIZE, reported: [1, 50, 1, 2, 50, 1, 3, 50, 1] });
  });

  it('refuses bad batch and steps with OptionErrors naming the option, and a batch larger than the images as Node does', async () => {
    const res = await inPage<{ errors: string[]; larger: string; wrapped: number }>(page, `
      const errors = [];
      for (const o of [{ batch: 0 }, { batch: 2.5 }, { steps: 0 }, { steps: -3 }]) {
        await lib.createTrainer('models/unet-tiny.onnx', undefined, { ...o, numThreads: 1 }).then(
          () => errors.push('created'),
          (e) => errors.push([e instanceof lib.OptionError, e instanceof lib.DiffusionError, e.name, e.option, e.message].join('|')),
        );
      }
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const big = await lib.createTrainer('models/unet-tiny.onnx', undefined, { batch: 12, steps: 5, numThreads: 1 });
      const larger = await big.fit(data).then(() => 'trained', (e) => [e.name, e.option, e.message].join('|'));
      await big.release();
      // The default batch (16) is no promise about the data: it wraps around the 8 images, as Node's default 64 does.
      const dflt = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: 5, numThreads: 1 });
      const wrapped = (await dflt.fit(data, { steps: 1 })).steps;
      await dflt.release();
      return { errors, larger, wrapped };
    `, { pixels });
    assert.deepEqual(res, {
      errors: [
        'true|true|OptionError|batch|batch must be a positive integer, got 0',
        'true|true|OptionError|batch|batch must be a positive integer, got 2.5',
        'true|true|OptionError|steps|steps must be a positive integer, got 0',
        'true|true|OptionError|steps|steps must be a positive integer, got -3',
      ],
      larger: 'OptionError|batch|batch 12: larger than the data set page images (8 images)',
      wrapped: 1,
    });
  });

  it('trains with 2 WASM threads in the cross-origin-isolated page (ORT starts its pool worker) and reports the same losses as 1 thread', async () => {
    const run = `
      const data = await lib.imageDataset(images, { channels: 1, size: ${SIZE} });
      const trainer = await lib.createTrainer('models/unet-tiny.onnx', undefined, { steps: 3, batch: 4, numThreads: args.threads });
      const r = await trainer.fit(data);
      await trainer.release();
      return r.losses;
    `;
    // ORT reads numThreads once per page: each count gets a fresh page. Its pool has numThreads - 1 workers.
    const inFreshPage = async (threads: number) => {
      const fresh = await site.browser.context.newPage();
      try {
        await fresh.goto(`${site.server.url}style.css`);
        assert.equal(await fresh.evaluate('crossOriginIsolated'), true, 'the page is cross-origin isolated (COOP/COEP)');
        const losses = await inPage<number[]>(fresh, run, { pixels, threads });
        return { losses, workers: fresh.workers().length };
      } finally {
        await fresh.close();
      }
    };
    const one = await inFreshPage(1);
    const two = await inFreshPage(2);
    assert.deepEqual([one.workers, two.workers], [0, 1], 'worker threads besides the page\'s own');
    two.losses.forEach((l, i) => assert.ok(Math.abs(l - one.losses[i]) / one.losses[i] < 1e-4, `step ${i + 1}: ${l} with 2 threads, ${one.losses[i]} with 1`));
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
    // No WebGPU adapter in headless Chromium: the request falls back to WASM, and the message says so.
    const gpu = await inPage<string>(page, `
      return lib.createTrainer('models/fashion-mnist.onnx', undefined, { batch: 1024, backend: 'webgpu' }).then(() => 'created', (e) => e.message);
    `);
    assert.match(gpu, /more than the WASM heap \(4 GiB, wasm32\)/);
    console.log(`      ${msg}`);
    const fit = Number(/batch (\d+) would fit/.exec(msg)![1]);
    assert.ok(fit >= 16 && fit < 1024, `suggested batch ${fit}`);
  });

  it('the fine-tuning page (train.html) fine-tunes the shipped model on a sample class, draws loss and samples, offers the model; a 2nd click trains on', async () => {
    const demo = await site.browser.context.newPage();
    const errors: string[] = [];
    demo.on('pageerror', (e) => errors.push(e.message));
    await demo.goto(`${site.server.url}train.html?threads=1`);
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
    const raw = async () => weightsOf(Buffer.from(await demo.evaluate('window.__train.exportModel(false)') as string, 'base64'));
    const first = await raw();
    assert.ok(maxAbsDiff(first, weightsOf(fs.readFileSync(path.join(site.site, 'models', 'fashion-mnist.onnx')))) > 0, 'the first run moved the weights');

    // A second click with other settings (3 steps at lr 0: AdamW moves nothing) must start from the
    // first run's weights, not the model's, and extend the loss curve.
    await demo.fill('#steps', '3');
    await demo.fill('#lr', '0');
    await demo.fill('#sample-every', '0');
    const before = await demo.textContent('#progress');
    await demo.click('#train');
    await demo.waitForFunction(`(() => {
      const p = document.getElementById('progress');
      return p.classList.contains('error') || (p.textContent !== ${JSON.stringify(before)} && /^(Done|Cancelled)/.test(p.textContent));
    })()`);
    assert.match((await demo.textContent('#progress')) ?? '', /^Done: 9 steps/);
    assert.match((await demo.textContent('#samples-caption')) ?? '', /after 9 steps/);
    assert.deepEqual(await raw(), first, 'the second run continued from the fine-tuned weights');
    const history = await demo.evaluate('window.__train.history()') as number[];
    assert.equal(history.length, 9);
    assert.deepEqual(history.slice(0, 6), res.losses, 'the loss curve keeps the first run');
    assert.deepEqual(errors, []);
    const shots = path.join(repoRoot(), 'test-artifacts');
    fs.mkdirSync(shots, { recursive: true });
    await demo.screenshot({ path: path.join(shots, 'web-train.png'), fullPage: true });
    await demo.close();
  });
});
