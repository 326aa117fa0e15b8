/**
 * The web entry's Stable Diffusion pipeline over a served tiny-sd folder, in headless Chromium
 * from the browser bundle: it reproduces the torch reference as Node does: token ids, each DDIM step's latents to 1e-4 and the decoded image
 * to 1e-3, with the UNet's weights read from its external data file (unet/weights.pb) by URL.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { externalDataFiles } from '../../src/web/sd';
import { launchChromium, type Browser } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, type StaticServer } from '../../tools/web/serve';
import { fixture } from '../helpers/paths';
import { maxAbsDiff } from '../helpers/close';

const DIR = fixture('tiny-sd');
const REF = path.join(DIR, 'reference');
const refF = (name: string) => npyToFloat32(decodeNpy(fs.readFileSync(path.join(REF, name)), name));
const PER = 4 * 16 * 16;

/** Each step's latents to 1e-4 and the NCHW image in [-1, 1] against image.npy (NHWC in [0, 1]) to 1e-3. */
function checkAgainstReference(steps: ArrayLike<number>[], images: ArrayLike<number>): void {
  const want = refF('latents_steps.npy');
  assert.equal(steps.length, 4);
  steps.forEach((x, i) => {
    const d = maxAbsDiff(x, want.subarray(i * PER, (i + 1) * PER));
    assert.ok(d < 1e-4, `step ${i}: ${d}`);
  });
  const img = refF('image.npy');
  const ours = new Float32Array(img.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) ours[p * 3 + c] = images[c * 1024 + p] / 2 + 0.5;
  assert.ok(maxAbsDiff(ours, img) < 1e-3, `image: ${maxAbsDiff(ours, img)}`);
}

describe('web entry: Stable Diffusion from a folder URL (headless Chromium)', function () {
  this.timeout(240_000);
  let dir: string;
  let server: StaticServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-web-'));
    await buildWeb({ outDir: path.join(dir, 'site'), webgpu: false, train: false });
    fs.symlinkSync(DIR, path.join(dir, 'site', 'tiny-sd'));
    server = await serveStatic({ dir: path.join(dir, 'site') });
  });

  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the UNet\'s external data file in its graph', () => {
    assert.deepEqual(externalDataFiles(fs.readFileSync(path.join(DIR, 'unet', 'model.onnx')), 'unet'), ['weights.pb']);
    assert.deepEqual(externalDataFiles(fs.readFileSync(path.join(DIR, 'vae_decoder', 'model.onnx')), 'vae_decoder'), []);
  });

  describe('in headless Chromium', () => {
    let browser: Browser;
    before(async () => { browser = await launchChromium(); });
    after(async () => { await browser?.close(); });

    it('the bundle\'s pipeline(url) reproduces the reference, and reports its time per image', async () => {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}tiny-sd/model_index.json`);
      const latents = Array.from(refF('latents_init.npy'));
      // A string, so tsx's transform (which names functions through a helper) does not reach the page.
      const res = await page.evaluate(`(async () => {
        const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
        const gen = await lib.pipeline(new URL('/tiny-sd/', location.href).href, { numThreads: 1 });
        const steps = [];
        const t0 = performance.now();
        const out = await gen({ prompt: 'a red shoe', steps: 4, latents: new Float32Array(${JSON.stringify(latents)}), height: 128, width: 128,
          onStep: (s) => { steps.push(Array.from(s.latents)); } });
        const ms = performance.now() - t0;
        await gen.release();
        const missing = await lib.pipeline(new URL('/missing/', location.href).href).then(() => 'loaded', (e) => e.message);
        return { steps, images: Array.from(out.images), ms, missing };
      })()`) as { steps: number[][]; images: number[]; ms: number; missing: string };
      assert.deepEqual(errors, []);
      checkAgainstReference(res.steps, res.images);
      const missing = `${server.url}missing/scheduler/scheduler_config.json`;
      assert.equal(res.missing, `${missing}: not found (a diffusers pipeline folder has scheduler/scheduler_config.json)`);
      console.log(`      Chromium (WASM, 1 thread): ${(res.ms / 1000).toFixed(2)} s per image (4 steps, guidance 7.5)`);
      await page.close();
    });
  });
});
