import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { createSampler } from '../../src/diffusion/sampler';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { DiffusionModel, OrtApi } from '../../src/runtime/model';
import { Browser, launchChromium } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, StaticServer } from '../../tools/web/serve';
import { repoRoot } from '../helpers/paths';

/** The page's test hook (tools/web/demo/demo.ts). */
interface DemoHook {
  ready: Promise<void>;
  sample(req: { sampler?: string; steps?: number; seed?: number; n?: number; preview?: boolean }): Promise<{ images: { width: number; height: number; rgba: number[] }[]; x: number[]; ms: number; steps: number }>;
}
declare const window: { __demo: DemoHook; crossOriginIsolated: boolean };

const SEED = 1234;
const REQUEST = { sampler: 'ddim', steps: 10, seed: SEED, n: 4 };

async function nodeReference(bytes: Uint8Array): Promise<{ rgba: Uint8Array[]; x: Float32Array }> {
  const model = await DiffusionModel.create(ort as unknown as OrtApi, bytes, { source: 'unet-tiny' });
  try {
    const res = await createSampler(model, { sampler: REQUEST.sampler, steps: REQUEST.steps, seed: REQUEST.seed }).sample(REQUEST.n);
    return { rgba: res.rgba.map((r) => r.rgba), x: res.images };
  } finally {
    await model.release();
  }
}

function assertPixelsClose(actual: number[], expected: Uint8Array, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: byte count`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d > worst) worst = d;
    if (d > 2) assert.fail(`${what}: byte ${i} (pixel ${i >> 2}, channel ${i & 3}) is ${actual[i]} in the browser, ${expected[i]} in Node`);
  }
  return worst;
}

async function openDemo(page: Page, url: string): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.evaluate(() => window.__demo.ready);
  assert.deepEqual(errors, [], 'page errors');
  assert.match((await page.textContent('#model-info')) ?? '', /default\.onnx: gaussian · 16×16×1/);
}

describe('web: the demo page in Chromium', function () {
  this.timeout(300000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let reference: { rgba: Uint8Array[]; x: Float32Array };

  before(async () => {
    // Fails (never skips) without the browser: launchChromium names the missing file.
    browser = await launchChromium();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-web-'));
    const bytes = encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 }));
    const modelPath = path.join(dir, 'unet-tiny.onnx');
    fs.writeFileSync(modelPath, bytes);
    await buildWeb({ outDir: path.join(dir, 'site'), model: modelPath, webgpu: false });
    server = await serveStatic({ dir: path.join(dir, 'site') });
    reference = await nodeReference(bytes);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('samples 4 images with DDIM (10 steps, fixed seed) equal to the Node sampler within 2/255', async () => {
    const page = await browser.context.newPage();
    await openDemo(page, server.url);
    const res = await page.evaluate((req) => window.__demo.sample(req), REQUEST);
    assert.equal(res.steps, 10);
    assert.equal(res.images.length, 4);
    res.images.forEach((img, i) => {
      assert.deepEqual([img.width, img.height], [16, 16]);
      assertPixelsClose(img.rgba, reference.rgba[i], `image ${i}`);
    });
    // Random weights saturate most pixels; the floats show the unclipped ones agree far closer than a byte.
    assert.equal(res.x.length, reference.x.length);
    res.x.forEach((v, i) => assert.ok(Math.abs(v - reference.x[i]) < 1e-3, `x[${i}]: ${v} in the browser, ${reference.x[i]} in Node`));
    assert.match((await page.textContent('#progress')) ?? '', /Done: 4 images, 10 steps/);
    const shots = path.join(repoRoot(), 'test-artifacts');
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'web-demo.png'), fullPage: true });
    await page.close();
  });

  it('runs ORT with 2 WASM threads on the COOP/COEP server and still matches Node', async () => {
    const page = await browser.context.newPage();
    await openDemo(page, `${server.url}?threads=2`);
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true, 'the server must make the page cross-origin isolated');
    assert.match((await page.textContent('#runtime')) ?? '', /WASM, 2 threads/);
    const res = await page.evaluate((req) => window.__demo.sample({ ...req, preview: false }), REQUEST);
    res.images.forEach((img, i) => assertPixelsClose(img.rgba, reference.rgba[i], `image ${i} (2 threads)`));
    await page.close();
  });

  it('the Cancel button stops a running sample with "sampling cancelled"', async () => {
    const page = await browser.context.newPage();
    await openDemo(page, server.url);
    const outcome = page.evaluate(() => window.__demo.sample({ steps: 500, n: 4 }).then(() => 'finished', (e: Error) => e.message));
    await page.waitForFunction(() => /^Step [2-9]/.test(document.getElementById('progress')!.textContent ?? ''));
    await page.click('#cancel');
    assert.equal(await outcome, 'sampling cancelled');
    assert.equal(await page.textContent('#progress'), 'sampling cancelled');
    assert.equal(await page.isEnabled('#generate'), true);
    await page.close();
  });

  it('the library API loads a Blob, reports every step, cancels through an AbortSignal and makes ImageData', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}style.css`);
    // A string, so tsx's transform (which names functions through a helper) does not reach the page.
    const res = await page.evaluate(`(async () => {
      const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
      const blob = await (await fetch('models/default.onnx')).blob();
      const model = await lib.loadModel(blob, { numThreads: 1 });
      const steps = [];
      const out = await lib.createSampler(model, { steps: 5, seed: 3 }).sample(2, { onStep: (s) => { steps.push(s.step); } });
      const image = lib.toImageData(out.rgba[0]);
      const ctrl = new AbortController();
      const cancelled = await lib.createSampler(model, { steps: 50 }).sample(2, {
        signal: ctrl.signal,
        onStep: (s) => { if (s.step === 1) ctrl.abort(); },
      }).then(() => 'finished', (e) => e.message);
      const missing = await lib.loadModel('models/missing.onnx').then(() => 'loaded', (e) => e.message);
      return { steps, isImageData: image instanceof ImageData, size: [image.width, image.height], cancelled, missing };
    })()`) as { steps: number[]; isImageData: boolean; size: number[]; cancelled: string; missing: string };
    assert.deepEqual(res.steps, [0, 1, 2, 3, 4]);
    assert.equal(res.isImageData, true);
    assert.deepEqual(res.size, [16, 16]);
    assert.equal(res.cancelled, 'sampling cancelled');
    assert.match(res.missing, /models\/missing\.onnx: could not fetch the model: HTTP 404/);
    await page.close();
  });

  it('fetchModel reports download progress and keeps the file in the Cache API; a missing ORT .wasm names the file to serve', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}style.css`);
    const res = await page.evaluate(`(async () => {
      const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
      await caches.delete('onnx-diffusion');
      const first = [];
      const bytes = await lib.fetchModel('models/default.onnx', { cache: true, progress: (p) => first.push(p) });
      const second = [];
      const again = await lib.fetchModel('models/default.onnx', { cache: true, progress: (p) => second.push(p) });
      const size = (await (await fetch('models/default.onnx')).arrayBuffer()).byteLength;
      const cached = !!(await (await caches.open('onnx-diffusion')).match(new URL('models/default.onnx', location.href).href));
      const noWasm = await lib.loadModel(bytes, { wasmPaths: '/nowhere/' }).then(() => 'loaded', (e) => e.message);
      return { size, n: bytes.length, same: again.length === bytes.length, first, second: second.map((p) => p.status), cached, noWasm };
    })()`) as { size: number; n: number; same: boolean; first: { loaded: number; total: number; status: string }[]; second: string[]; cached: boolean; noWasm: string };
    assert.equal(res.n, res.size);
    assert.equal(res.same, true);
    assert.deepEqual(res.first.at(-1), { ...res.first.at(-1), loaded: res.size, total: res.size, status: 'done' });
    assert.ok(res.first.slice(0, -1).every((p) => p.status === 'download' && p.total === res.size));
    assert.deepEqual(res.second, ['cached']);
    assert.equal(res.cached, true);
    assert.match(res.noWasm, /onnxruntime-web could not load its WASM runtime: serve node_modules\/onnxruntime-web\/dist\/ort-wasm-simd-threaded\.wasm and its \.mjs under \/nowhere\//);
    await page.close();
  });
});
