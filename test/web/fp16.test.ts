/**
 * A float16 diffusers folder (tiny-sd converted by test/sd/half-export.ts) through the web entry in
 * headless Chromium (wasm): pipeline(url) widens its float16 parts to float32 in the page by
 * default, fetching the UNet's float16 weights.pb, and samples what Node samples from the float32
 * folder with float16-rounded weights (the second implementation of test/sd/fp16.test.ts), to
 * 1e-4 of the largest latent (wasm and native float32 arithmetic differ in the last bits);
 * precision 'float16' runs the graphs as exported in wasm, within the float16 bound of
 * test/sd/fp16.test.ts (2 * steps * 2^-11 * max|latents| from the torch reference).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { loadStableDiffusion } from '../../src/runtime/sd';
import { launchChromium, type Browser } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, type StaticServer } from '../../tools/web/serve';
import { fixture } from '../helpers/paths';
import { writeHalfFolder, writeRoundedFolder } from '../sd/half-export';
import { maxAbsDiff } from '../helpers/close';

const SRC = fixture('tiny-sd');
const refF = (name: string) => npyToFloat32(decodeNpy(fs.readFileSync(path.join(SRC, 'reference', name)), name));

describe('web entry: a float16 Stable Diffusion folder (headless Chromium)', function () {
  this.timeout(240_000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let rounded: Float32Array;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-web-fp16-'));
    await buildWeb({ outDir: path.join(dir, 'site'), webgpu: false, train: false });
    writeHalfFolder(SRC, path.join(dir, 'site', 'tiny-sd-fp16'));
    writeRoundedFolder(SRC, path.join(dir, 'rounded'));
    const gen = await loadStableDiffusion(path.join(dir, 'rounded'), { threads: 2 });
    rounded = (await gen({ prompt: 'a red shoe', steps: 4, latents: refF('latents_init.npy'), height: 128, width: 128 })).latents;
    await gen.release();
    server = await serveStatic({ dir: path.join(dir, 'site') });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("pipeline(url) upcasts the float16 folder in the page (wasm), sampling Node's float16-rounded float32 result; 'float16' runs it as exported", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}tiny-sd-fp16/model_index.json`);
    const latents = Array.from(refF('latents_init.npy'));
    // A string, so tsx's transform (which names functions through a helper) does not reach the page.
    const res = await page.evaluate(`(async () => {
      const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
      const url = new URL('/tiny-sd-fp16/', location.href).href;
      const call = { prompt: 'a red shoe', steps: 4, latents: new Float32Array(${JSON.stringify(latents)}), height: 128, width: 128 };
      const out = {};
      for (const precision of ['auto', 'float16']) {
        const gen = await lib.pipeline(url, { numThreads: 1, precision });
        const t0 = performance.now();
        const r = await gen(call);
        const unetInput = gen.sd.parts.unet.session.inputMetadata.find((m) => m.name === 'sample').type;
        out[precision] = { latents: Array.from(r.latents), ms: performance.now() - t0, unetInput };
        await gen.release();
      }
      return out;
    })()`) as Record<'auto' | 'float16', { latents: number[]; ms: number; unetInput: string }>;
    assert.deepEqual(errors, []);
    const max = rounded.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.equal(res.auto.unetInput, 'float32');
    assert.ok(maxAbsDiff(res.auto.latents, rounded) <= 1e-4 * max, `upcast: ${maxAbsDiff(res.auto.latents, rounded)}`);
    assert.equal(res.float16.unetInput, 'float16');
    const ref = refF('latents_final.npy');
    const bound = 2 * 4 * 2 ** -11 * ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(maxAbsDiff(res.float16.latents, ref) <= bound, `float16: ${maxAbsDiff(res.float16.latents, ref)} > ${bound}`);
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    console.log(`      Chromium (WASM, 1 thread), float16 folder: ${sec(res.auto.ms)} s per image upcast, ${sec(res.float16.ms)} s as float16`);
    await page.close();
  });
});
