import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { buildModel, loadRecipe } from '../../src/nn';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { trainableLayout } from '../../src/train/params';
import { type Model, Tensor } from '../../src/onnx';
import { Rng } from '../../src/core/rng';
import { Browser, launchChromium } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, StaticServer } from '../../tools/web/serve';
import { repoRoot } from '../helpers/paths';
import { discs, maxAbsDiff, weightsOf } from './train-site';

/**
 * Tolerances, stated: sampling (DDIM 10 steps, 2 images, unet-tiny, random weights) WebGPU vs WASM max |dx|
 * 7.8e-5 measured 2026-12-03 on SwiftShader (the issue saw 1.2e-3 on the shipped model); one
 * train step's loss relative 1e-5 (measured 1.2e-6) and weights 1e-4 after an AdamW step at lr 1e-3
 * (an update is about lr, so a gradient of the other sign shows as 2e-3).
 */
const SAMPLE_TOL = 2e-3;
const LOSS_REL_TOL = 1e-5;
const WEIGHT_TOL = 1e-4;
/**
 * Share of weights allowed past WEIGHT_TOL: a bias feeding a GroupNorm has a zero gradient up to
 * rounding, and Adam's first step lr g / (|g| + eps) turns that noise into +-lr with either sign.
 */
const WEIGHT_SHARE = 0.01;
/** The same for conv weights (7.8 % with the unfold formulation on WebGPU; see the test). */
const CONV_SHARE = WEIGHT_SHARE;

/** ORT's verbose "Node placements" lines: op types per execution provider, for each session created. */
function placements(logs: string[]): Map<string, string[]>[] {
  const sessions: Map<string, string[]>[] = [];
  let ep: string | undefined;
  for (const line of logs) {
    if (/VerifyEachNodeIsAssignedToAnEp\] Node placements/.test(line)) sessions.push(new Map());
    const all = line.match(/All nodes placed on \[(\w+)\]/);
    const some = line.match(/Node\(s\) placed on \[(\w+)\]/);
    const node = line.match(/VerifyEachNodeIsAssignedToAnEp\] {3}(\w+) \(/);
    const cur = sessions[sessions.length - 1];
    if (!cur) continue;
    if (all) cur.set(all[1], ['(all)']);
    else if (some) cur.set((ep = some[1]), []);
    else if (node && ep) cur.get(ep)!.push(node[1]);
  }
  return sessions;
}

/**
 * The model with its zero-initialised weights (the output conv) drawn small and random: with them
 * at 0 every other gradient is 0 up to rounding, and Adam's first step, lr g / (|g| + eps), turns
 * rounding noise into +-lr updates whose signs differ between backends.
 */
function nonZero(model: Model): Model {
  const rng = new Rng(5);
  for (const [name, t] of model.graph.initializers) {
    if (t.dtype === 'float32' && t.size > 1 && t.data.every((v) => v === 0)) {
      model.graph.initializers.set(name, new Tensor('float32', t.dims, Float32Array.from(t.data, () => 0.02 * rng.normal())));
    }
  }
  return model;
}

const cpuOps = (m: Map<string, string[]>): string[] => [...new Set(m.get('CPUExecutionProvider') ?? [])].sort();

describe('web: WebGPU in headless Chromium (--enable-unsafe-webgpu; SwiftShader where there is no GPU)', function () {
  this.timeout(600_000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let adapter: string | null;
  const logs: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    browser = await launchChromium({ webgpu: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-webgpu-'));
    const modelPath = path.join(dir, 'unet-tiny.onnx');
    fs.writeFileSync(modelPath, encodeModel(nonZero(buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 }))));
    await buildWeb({ outDir: path.join(dir, 'site'), model: modelPath, webgpu: true, train: false });
    server = await serveStatic({ dir: path.join(dir, 'site') });
    page = await browser.context.newPage();
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}`);
    await page.waitForFunction('window.__demo !== undefined');
    adapter = await page.evaluate(`navigator.gpu ? navigator.gpu.requestAdapter().then((a) => a && [a.info.vendor, a.info.architecture].join(' ')) : null`) as string | null;
    // Printed either way, so a run without an adapter is never read as a WebGPU pass.
    console.log(adapter
      ? `      WebGPU adapter: ${adapter} (${browser.version}); the WebGPU checks below run`
      : `      WebGPU NOT TESTED: ${browser.version} gave no adapter (navigator.gpu.requestAdapter() returned null); only the fallback to WASM is checked`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the demo offers WebGPU exactly when requestAdapter() gives an adapter', async () => {
    const offered = await page.evaluate(`window.__demo.webGpu`);
    assert.deepEqual(pageErrors, []);
    assert.equal(offered, adapter !== null);
    assert.equal(await page.isDisabled('#backend option[value="webgpu"]'), adapter === null);
  });

  it(`sampling on the WebGPU backend equals WASM within ${SAMPLE_TOL} (DDIM 4 steps, 1 image), naming the ops ORT places on the CPU`, async () => {
    logs.length = 0;
    const res = await page.evaluate(`(async () => {
      const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
      const out = {};
      for (const backend of ['wasm', 'webgpu']) {
        const t0 = performance.now();
        const model = await lib.loadModel('models/default.onnx', { backend, numThreads: 1, sessionOptions: { logSeverityLevel: 0, logVerbosityLevel: 0 } });
        const r = await lib.createSampler(model, { steps: 4, seed: 1 }).sample(1);
        out[backend] = { backend: lib.backendOf(model), x: Array.from(r.images), ms: performance.now() - t0 };
        await model.release();
      }
      return out;
    })()`) as Record<'wasm' | 'webgpu', { backend: string; x: number[]; ms: number }>;
    assert.equal(res.wasm.backend, 'wasm');
    if (adapter === null) {
      assert.equal(res.webgpu.backend, 'wasm', 'without an adapter the WebGPU request runs on WASM');
      assert.ok(logs.some((l) => l.includes('navigator.gpu has no adapter; using WASM')));
      return;
    }
    assert.equal(res.webgpu.backend, 'webgpu');
    const d = maxAbsDiff(Float32Array.from(res.webgpu.x), Float32Array.from(res.wasm.x));
    const [wasmPlaces, gpuPlaces] = placements(logs);
    assert.ok(gpuPlaces?.has('WebGpuExecutionProvider'), 'ORT logged no node placements for the WebGPU session');
    const onCpu = cpuOps(gpuPlaces);
    console.log(`      sample: WebGPU vs WASM max |dx| ${d.toExponential(2)}; ${res.webgpu.ms.toFixed(0)} ms vs ${res.wasm.ms.toFixed(0)} ms; `
      + `ops on the CPU: ${onCpu.join(', ') || 'none'} (WASM session: ${[...wasmPlaces.keys()].join(', ')})`);
    assert.ok(d <= SAMPLE_TOL, `max |dx| ${d}`);
    // WebGPU has no int64: ORT casts the timestep on the CPU (measured 2026-12-03); anything more is a change to look at.
    assert.deepEqual(onCpu, ['Cast']);
  });

  it(`a training step on the WebGPU backend: loss equal to WASM within ${LOSS_REL_TOL} relative, non-conv weights within ${WEIGHT_TOL}, conv weights too, the ops ORT puts on the CPU named`, async () => {
    logs.length = 0;
    const res = await page.evaluate(`(async () => {
      const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
      const pixels = ${JSON.stringify(discs().slice(0, 4))};
      const images = pixels.map((p) => {
        const d = new ImageData(16, 16);
        p.forEach((v, i) => { d.data[4 * i] = d.data[4 * i + 1] = d.data[4 * i + 2] = v; d.data[4 * i + 3] = 255; });
        return d;
      });
      const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
      const data = await lib.imageDataset(images, { channels: 1, size: 16 });
      const out = {};
      for (const backend of ['wasm', 'webgpu']) {
        const t = await lib.createTrainer('models/default.onnx', undefined, {
          steps: 1, batch: 4, seed: 0, lr: 1e-3, numThreads: 1, backend, sessionOptions: { logSeverityLevel: 0, logVerbosityLevel: 0 },
        });
        const r = await t.fit(data);
        out[backend] = { backend: t.backend, losses: r.losses, weights: b64(t.exportModel({ ema: false })) };
        await t.release();
      }
      return out;
    })()`) as Record<'wasm' | 'webgpu', { backend: string; losses: number[]; weights: string }>;
    if (adapter === null) {
      assert.equal(res.webgpu.backend, 'wasm');
      return;
    }
    assert.equal(res.webgpu.backend, 'webgpu');
    res.wasm.losses.forEach((l, i) => {
      const rel = Math.abs(res.webgpu.losses[i] - l) / Math.abs(l);
      assert.ok(rel <= LOSS_REL_TOL, `step ${i + 1}: loss ${res.webgpu.losses[i]} on WebGPU, ${l} on WASM`);
    });
    const gpuW = weightsOf(Buffer.from(res.webgpu.weights, 'base64'));
    const cpuW = weightsOf(Buffer.from(res.wasm.weights, 'base64'));
    // Per parameter: how many weights ended more than WEIGHT_TOL apart.
    const g = decodeModel(Buffer.from(res.wasm.weights, 'base64')).graph;
    const conv = /(conv\d|sample)\.weight$/;
    let convOff = 0;
    let convAll = 0;
    let otherOff = 0;
    let otherAll = 0;
    for (const slot of trainableLayout(g).slots) {
      let off = 0;
      for (let i = slot.offset; i < slot.offset + slot.size; i++) if (Math.abs(gpuW[i] - cpuW[i]) > WEIGHT_TOL) off++;
      if (conv.test(slot.name)) [convOff, convAll] = [convOff + off, convAll + slot.size];
      else [otherOff, otherAll] = [otherOff + off, otherAll + slot.size];
    }
    const gpuPlaces = placements(logs).find((m) => m.has('WebGpuExecutionProvider'));
    assert.ok(gpuPlaces, 'ORT logged no node placements for the WebGPU step session');
    const onCpu = cpuOps(gpuPlaces);
    const lossRel = Math.abs(res.webgpu.losses[0] - res.wasm.losses[0]) / res.wasm.losses[0];
    console.log(`      train step: loss relative ${lossRel.toExponential(2)}; weights past ${WEIGHT_TOL}: ${otherOff} of ${otherAll} outside conv weights, `
      + `${convOff} of ${convAll} conv weights (max ${maxAbsDiff(gpuW, cpuW).toExponential(2)}); ops on the CPU: ${onCpu.join(', ') || 'none'}`);
    assert.ok(lossRel <= LOSS_REL_TOL, `loss ${res.webgpu.losses[0]} on WebGPU, ${res.wasm.losses[0]} on WASM`);
    assert.ok(otherOff <= WEIGHT_SHARE * otherAll, `${otherOff} of ${otherAll} weights (not conv) differ by more than ${WEIGHT_TOL}`);
    // With the default unfold formulation of the conv weight gradient, ~8 % of the conv weights took
    // Adam's first step the other way on WebGPU (tools/web/webgpu-grad-check.ts); the page's trainer
    // now builds WebGPU steps with conv-transposed, which agrees with WASM.
    assert.ok(convOff <= CONV_SHARE * convAll, `${convOff} of ${convAll} conv weights differ by more than ${WEIGHT_TOL}`);
    assert.deepEqual(onCpu, ['Cast']);
  });
});
