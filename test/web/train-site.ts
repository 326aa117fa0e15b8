/**
 * Set-up shared by the page-training specs: the site built into a temp dir with unet-tiny (random
 * weights, seed 1), the PyTorch fixture and the shipped model, served on a free port (COOP/COEP),
 * and headless Chromium; plus the helpers that run code in the page and read its exports.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { createSampler } from '../../src/diffusion/sampler';
import { buildModel, loadRecipe } from '../../src/nn';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { DiffusionModel, OrtApi } from '../../src/runtime/model';
import { flattenParams, trainableLayout } from '../../src/train/params';
import { Browser, launchChromium } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, StaticServer } from '../../tools/web/serve';
import { fixture, repoRoot } from '../helpers/paths';

export const SIZE = 16;
export const N_IMAGES = 8;

/** Eight 16x16 grey discs of different radius and centre: something a UNet can learn from. */
export function discs(): number[][] {
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
 * Runs `body` in the page with `lib` (the bundle), `images` (args.pixels as grey ImageData), `b64`
 * and `fromB64` in scope. A string, so tsx's transform (which names functions through a helper)
 * does not reach the page.
 */
export function inPage<T>(page: Page, body: string, args: Record<string, unknown> = {}): Promise<T> {
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

export const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** The trainable weights of a model.onnx, flat, in the step graph's order. */
export function weightsOf(bytes: Uint8Array): Float32Array {
  const g = decodeModel(bytes).graph;
  return flattenParams(g, trainableLayout(g));
}

export async function sampleInNode(bytes: Uint8Array, config?: unknown): Promise<Float32Array> {
  const model = await DiffusionModel.create(ort as unknown as OrtApi, bytes, { source: 'exported', config });
  try {
    return (await createSampler(model, { sampler: 'ddim', steps: 5, seed: 7 }).sample(2)).images;
  } finally {
    await model.release();
  }
}

export interface TrainSite {
  dir: string;
  site: string;
  server: StaticServer;
  browser: Browser;
  /** A page of the site (on style.css) for `inPage`; ORT in it runs 1 thread once started. */
  page: Page;
  /** models/unet-tiny.onnx on disk. */
  modelPath: string;
  close(): Promise<void>;
}

export async function openTrainSite(): Promise<TrainSite> {
  const browser = await launchChromium();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-webtrain-'));
  const site = path.join(dir, 'site');
  await buildWeb({ outDir: site, webgpu: false });
  const models = path.join(site, 'models');
  fs.mkdirSync(models, { recursive: true });
  const modelPath = path.join(models, 'unet-tiny.onnx');
  fs.writeFileSync(modelPath, encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 })));
  fs.copyFileSync(fixture('torch-unet-16px.onnx'), path.join(models, 'torch-unet-16px.onnx'));
  fs.copyFileSync(fixture('torch-unet-16px.json'), path.join(models, 'torch-unet-16px.json'));
  fs.copyFileSync(path.join(repoRoot(), 'models/fashion-mnist/model.onnx'), path.join(models, 'fashion-mnist.onnx'));
  fs.copyFileSync(path.join(repoRoot(), 'models/fashion-mnist/model.fp16.onnx'), path.join(models, 'fashion-mnist.fp16.onnx'));
  const server = await serveStatic({ dir: site });
  const page = await browser.context.newPage();
  await page.goto(`${server.url}style.css`);
  return {
    dir, site, server, browser, page, modelPath,
    close: async () => {
      await browser.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
