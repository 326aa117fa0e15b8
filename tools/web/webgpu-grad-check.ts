/**
 * Which conv weight-gradient formulation (src/autodiff/rules/conv.ts) ORT's WebGPU backend computes
 * like its WASM backend: builds unet-tiny's gradient graph (optimizer 'none', zero-initialised
 * weights drawn small so every gradient is non-trivial) once per formulation, runs each in headless
 * Chromium (--enable-unsafe-webgpu) on WASM and on WebGPU with the same inputs, and prints, per
 * formulation, the gradients that differ by more than 1e-3 of their largest value:
 * [name, size, entries of the other sign, max |difference|, max |gradient|].
 *
 *   node --import tsx tools/web/webgpu-grad-check.ts
 *
 * 2026-12-03, ORT 1.29.0, Chromium 156, SwiftShader: unfold-smaller (the default) and unfold-matmul
 * differ on every 3x3 conv weight (about 8 % of the entries of the other sign, differences as large
 * as the gradients); conv-transposed and slice-gemm agree. docs/web.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildModel, loadRecipe } from '../../src/nn';
import { buildStepGraph } from '../../src/train/step-graph';
import { readModelConfig } from '../../src/core/model-config';
import { readMetadata } from '../../src/onnx/metadata';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx';
import { Rng } from '../../src/core/rng';
import { launchChromium } from './browser';
import { buildWeb } from './build';
import { serveStatic } from './serve';

(async () => {
  const model = buildModel(loadRecipe('unet-tiny'), { seed: 1 });
  const rng = new Rng(5);
  for (const [name, t] of model.graph.initializers) {
    if (t.dtype === 'float32' && t.size > 1 && t.data.every((v) => v === 0)) model.graph.initializers.set(name, new Tensor('float32', t.dims, Float32Array.from(t.data, () => 0.02 * rng.normal())));
  }
  const bytes = encodeModel(model);
  const config = readModelConfig(readMetadata(bytes, 'm'), 'm')!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-probe-'));
  const site = path.join(dir, 'site');
  fs.writeFileSync(path.join(dir, 'm.onnx'), bytes);
  await buildWeb({ outDir: site, model: path.join(dir, 'm.onnx'), webgpu: true, train: false });
  const wgs = ['unfold-smaller', 'unfold-matmul', 'conv-transposed', 'slice-gemm'];
  let inputs: { name: string; dims: number[]; type: string }[] = [];
  for (const wg of wgs) {
    const g = buildStepGraph(decodeModel(bytes), config, { optimizer: 'none', conv: { weightGradient: wg as 'unfold-smaller' } });
    fs.writeFileSync(path.join(site, 'models', `grad-${wg}.onnx`), encodeModel(g.model));
    inputs = g.model.graph.inputs.map((v) => ({ name: v.name, dims: v.shape.map((d) => (typeof d === 'number' ? d : 4)), type: v.dtype }));
  }
  const server = await serveStatic({ dir: site });
  const browser = await launchChromium({ webgpu: true });
  const page = await browser.context.newPage();
  await page.goto(`${server.url}style.css`);
  const res = await page.evaluate(`(async () => {
    const lib = await import(new URL('onnx-diffusion.mjs', location.href).href);
    const m = await lib.loadModel('models/default.onnx', { backend: 'webgpu', numThreads: 1 });
    const ort = m.ort;
    const inputs = ${JSON.stringify(inputs)};
    let s = 1; const rnd = () => { s = (s * 16807) % 2147483647; return s / 2147483647 - 0.5; };
    const feeds = {};
    for (const i of inputs) {
      const n = i.dims.reduce((a, b) => a * b, 1);
      feeds[i.name] = i.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, k) => BigInt(100 + 200 * k)), i.dims) : new ort.Tensor('float32', Float32Array.from({ length: n }, rnd), i.dims);
    }
    const out = {};
    for (const wg of ${JSON.stringify(wgs)}) {
      const bytes = new Uint8Array(await (await fetch('models/grad-' + wg + '.onnx')).arrayBuffer());
      const r = {};
      for (const ep of ['wasm', 'webgpu']) {
        const sess = await ort.InferenceSession.create(bytes, { executionProviders: ep === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'] });
        const o = await sess.run(feeds);
        r[ep] = Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.from(v.data)]));
      }
      const rows = [];
      for (const k of Object.keys(r.wasm)) {
        const a = r.wasm[k], b = r.webgpu[k];
        let flip = 0, maxd = 0, maxa = 0;
        for (let i = 0; i < a.length; i++) { if (Math.sign(a[i]) !== Math.sign(b[i])) flip++; maxd = Math.max(maxd, Math.abs(a[i] - b[i])); maxa = Math.max(maxa, Math.abs(a[i])); }
        if (maxd > 1e-3 * maxa) rows.push([k, a.length, flip, maxd, maxa]);
      }
      out[wg] = rows;
    }
    return out;
  })()`);
  console.log(JSON.stringify(res, null, 0).replace(/\],\[/g, '],\n['));
  await browser.close();
  await server.close();
})();
