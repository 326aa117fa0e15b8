/**
 * A real fine-tune in the training page, photographed for the README (docs/images/web-train.png):
 *
 *   node --import tsx tools/web/train-screenshot.ts [--steps 150] [--class 8] [--out docs/images/web-train.png]
 *
 * Builds the site, opens train.html in headless Chromium (2 WASM threads), fine-tunes the shipped
 * Fashion-MNIST model on 32 sample images of one class, and screenshots the page.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchChromium } from './browser';
import { buildWeb } from './build';
import { serveStatic } from './serve';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

(async () => {
  const steps = Number(arg('--steps', '150'));
  const cls = Number(arg('--class', '8'));
  const out = path.resolve(arg('--out', path.join(__dirname, '..', '..', 'docs', 'images', 'web-train.png')));
  const site = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-train-shot-'));
  await buildWeb({ outDir: site, webgpu: false });
  const server = await serveStatic({ dir: site });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 760, height: 1000 });
    await page.goto(`${server.url}train.html?threads=2`);
    await page.evaluate('window.__train.ready');
    const t0 = Date.now();
    const r = await page.evaluate(`window.__train.addSample(${cls}, 32), window.__train.run({ steps: ${steps}, batch: 8, lr: 1e-4, sampleEvery: 50 })`) as { msPerStep: number };
    console.log(`${steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s (${r.msPerStep.toFixed(0)} ms/step)`);
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(site, { recursive: true, force: true });
  }
})();
