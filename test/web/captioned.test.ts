/**
 * Captioned training of a diffusers folder in headless Chromium: the web entry's
 * `createTrainer(folderUrl, { data, lora })` on the served tiny-sd fixture against Node's
 * `train({ init: DIR, data: 'captions:FOLDER', lora })` on the same eight pictures and seed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { decodeAdapter } from '../../src/nn/lora';
import { loadStableDiffusion } from '../../src/runtime/sd';
import { train } from '../../src/train/trainer';
import { makeCaptionedPictures, timesOf } from '../../tools/web/bench-captioned';
import { launchChromium, type Browser } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, type StaticServer } from '../../tools/web/serve';
import { fixture } from '../helpers/paths';

const DIR = fixture('tiny-sd');
const STEPS = 50;
// As test/train/captioned.test.ts: rank-4 LoRA, batch 2, lr 1e-2 without warmup, caption dropout 0.1.
const RUN = { resolution: 32, steps: STEPS, batch: 2, lr: 1e-2, warmup: 0, condDropout: 0.1, seed: 3 };
// The fixture has no VAE config, so the pipeline assumes SD's 8x VAE: 128 pixels ask for 16x16 latents (32x32 out).
const SAMPLE = { prompt: 'a red square', steps: 3, height: 128, width: 128, seed: 5 };
/**
 * The fixture's training picture (32x32) centred in a 48x32 picture with noise at the sides:
 * centre-cropped to 32, it must give train_pixels.npy (train_image.png / 127.5 - 1, the torch
 * reference), as Node's cache gives train_latents.npy from it (test/train/captioned.test.ts).
 */
async function makeCropPictures(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const picture = await sharp(path.join(DIR, 'reference', 'train_image.png')).removeAlpha().raw().toBuffer();
  const wide = Buffer.alloc(48 * 32 * 3);
  for (let i = 0; i < wide.length; i++) wide[i] = (i * 7919) % 251;
  for (let y = 0; y < 32; y++) picture.copy(wide, (y * 48 + 8) * 3, y * 32 * 3, (y + 1) * 32 * 3);
  await sharp(wide, { raw: { width: 48, height: 32, channels: 3 } }).png().toFile(path.join(dir, 'wide.png'));
  fs.writeFileSync(path.join(dir, 'wide.txt'), 'a red shoe');
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Runs `body` in the page with `lib` (the bundle), `b64`, `files(names)` (File objects built from fetched bytes) in scope. */
function inPage<T>(page: Page, body: string): Promise<T> {
  // A string, so tsx's transform (which names functions through a helper) does not reach the page.
  return page.evaluate(`(async () => {
    const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
    const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
    const files = (dir, names) => Promise.all(names.map(async (n) => new File([await (await fetch(dir + n)).arrayBuffer()], n)));
    const fail = (p) => p.then(() => 'no error', (e) => e.message);
    ${body}
  })()`) as Promise<T>;
}

describe('web: captioned training of a Stable Diffusion folder (headless Chromium)', function () {
  this.timeout(300_000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-captions-web-'));
    const site = path.join(dir, 'site');
    await buildWeb({ outDir: site, webgpu: false });
    fs.symlinkSync(DIR, path.join(site, 'tiny-sd'));
    await makeCaptionedPictures(path.join(site, 'pics'));
    fs.mkdirSync(path.join(site, 'nometa'));
    await makeCropPictures(path.join(site, 'crop'));
    server = await serveStatic({ dir: site });
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(`${server.url}tiny-sd/model_index.json`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The page's losses of the folder-URL run, for the dropped-files runs to match. */
  let urlLosses: number[] = [];

  it(`a LoRA run of ${STEPS} steps from a folder URL equals Node's train() on captions:, lowers the loss, and its adapter samples the same image in Node`, async () => {
    const out = path.join(dir, 'node-run');
    const enc: number[] = [];
    const steps: number[] = [];
    // Node and the page at once (Node's sessions run on ORT's threads, the page in Chromium): the test's time is the longer of the two.
    const nodeRun = train({
      init: DIR, data: `captions:${path.join(dir, 'site', 'pics')}`, lora: { rank: 4 }, ...RUN, threads: 1, out, sampleEvery: 0,
      onEncode: () => enc.push(performance.now()), onStep: () => steps.push(performance.now()),
    });
    const pageRun = inPage<{ losses: number[]; adapter: string; images: number[]; same: boolean; encoded: number; ms: { encode: number; step: number } }>(page, `
      const enc = [], steps = [];
      const trainer = await lib.createTrainer('/tiny-sd/', { data: '/pics/', lora: 4, ...${JSON.stringify(RUN)}, numThreads: 1,
        onEncode: () => { enc.push(performance.now()); } });
      const fit = await trainer.fit({ onStep: () => steps.push(performance.now()) });
      const ms = { encode: (enc.at(-1) - enc[0]) / (enc.length - 1), step: (steps.at(-1) - steps[0]) / (steps.length - 1) };
      const gen = await trainer.pipeline();
      const sample = await gen(${JSON.stringify(SAMPLE)});
      await gen.dispose();
      const bytes = trainer.exportAdapter();
      await trainer.dispose();
      // The web entry's pipeline(url, { lora }) with the exported bytes: the same image as the trainer's pipeline.
      const withLora = await lib.pipeline('/tiny-sd/', { lora: bytes, numThreads: 1 });
      const again = await withLora(${JSON.stringify(SAMPLE)});
      await withLora.dispose();
      const same = again.images.every((v, i) => v === sample.images[i]);
      return { losses: fit.losses, adapter: b64(bytes), images: Array.from(sample.images), same, encoded: enc.length, ms };
    `);
    const [node, res] = await Promise.all([nodeRun, pageRun]);
    const nodeMs = timesOf(enc, steps);
    assert.equal(res.encoded, 8);
    assert.equal(res.same, true, "pipeline(url, { lora }) differs from the trainer's pipeline()");
    assert.equal(res.losses.length, STEPS);
    urlLosses = res.losses;
    // The page's encoders and UNet run in onnxruntime-web's WASM kernels, Node's in the CPU provider's:
    // the same graphs and feeds, float32 sums in another order, so each loss agrees to float rounding
    // carried through 50 AdamW steps, not bit for bit: measured worst 1.5e-6 relative (docs/captioned-training.md);
    // 1e-4 leaves that margin while a changed feed, seed, batch order or dropout draw moves a loss by 1e-2 or more.
    const rel = res.losses.map((l, i) => Math.abs(l - node.losses[i]) / Math.abs(node.losses[i]));
    assert.ok(Math.max(...rel) < 1e-4, `page vs Node losses: worst relative difference ${Math.max(...rel)}`);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(mean(res.losses.slice(-10)) < mean(res.losses.slice(0, 10)), `loss did not fall: ${res.losses.join(', ')}`);
    // The page's adapter in Node's pipeline(dir, { lora }): the same image as the page sampled with it.
    const adapterFile = path.join(dir, 'page-adapter.safetensors');
    fs.writeFileSync(adapterFile, Buffer.from(res.adapter, 'base64'));
    const gen = await loadStableDiffusion(DIR, { lora: adapterFile, threads: 1 });
    const plain = await loadStableDiffusion(DIR, { threads: 1 });
    const inNode = await gen(SAMPLE);
    const without = await plain(SAMPLE);
    await Promise.all([gen.release(), plain.release()]);
    const d = maxAbsDiff(inNode.images, res.images);
    assert.ok(d < 1e-3, `page vs Node image with the adapter: ${d}`);
    assert.ok(maxAbsDiff(without.images, res.images) > 1e-3, 'the adapter changed nothing');
    // Both ran at once here: tools/web/bench-captioned.ts times them one after the other.
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    console.log(`      at once: page (WASM, 1 thread) ${ms(res.ms.encode)}/picture, ${ms(res.ms.step)}/step; Node (CPU, 1 thread) ${ms(nodeMs.encode)}/picture,`
      + ` ${ms(nodeMs.step)}/step; worst loss rel ${Math.max(...rel).toExponential(2)}, image ${d.toExponential(2)}`);
  });

  it('dropped files (pictures with .txt captions, or a metadata.jsonl among them) train as the folder URL does, saveState/loadState resume exactly; the whole UNet trains too', async () => {
    const names = Array.from({ length: 8 }, (_, k) => [`p${k}.png`, `p${k}.txt`]).flat();
    const res = await inPage<{ txt: number[]; meta: number[]; full: number[]; fullImage: unknown[]; exportAdapter: string; unetBytes: number }>(page, `
      const open = (data) => lib.createTrainer('/tiny-sd/', { data, lora: 4, ...${JSON.stringify(RUN)}, numThreads: 1 });
      // Dropped in another order: the pairs are sorted by name, as Node lists a folder.
      const a = await open((await files('/pics/', ${JSON.stringify(names)})).reverse());
      const txt = (await a.fit({ steps: 2 })).losses;
      const state = a.saveState();
      await a.dispose();
      // A metadata.jsonl among the files, continuing the first run from its saved state.
      const b = await open(await files('/pics/', ['metadata.jsonl', ...${JSON.stringify(names.filter((n) => n.endsWith('.png')))}]));
      b.loadState(state);
      const meta = (await b.fit({ steps: 2 })).losses;
      await b.dispose();
      // The whole UNet (no lora): its first loss is the LoRA run's (LoRA's B starts at 0: the same function).
      const c = await lib.createTrainer('/tiny-sd/', { data: '/pics/', ...${JSON.stringify(RUN)}, numThreads: 1 });
      const full = (await c.fit({ steps: 1 })).losses;
      const gen = await c.pipeline();
      const out = await gen({ prompt: 'a red square', steps: 1, height: 128, width: 128 });
      await gen.dispose();
      const exportAdapter = await Promise.resolve().then(() => c.exportAdapter()).then(() => 'no error', (e) => e.message);
      const unetBytes = c.exportUnet().length;
      await c.dispose();
      return { txt, meta, full, fullImage: [out.w, out.h, out.images.every(Number.isFinite)], exportAdapter, unetBytes };
    `);
    // Bit for bit: the same page, pictures, captions and seed (the lr schedule of a 50-step run; steps 1-2, then 3-4 resumed).
    assert.deepEqual(res.txt, urlLosses.slice(0, 2));
    assert.deepEqual(res.meta, urlLosses.slice(2, 4));
    // Other graphs (every weight a slice of the flat vector, no adapter nodes): the same sums to float rounding.
    assert.ok(Math.abs(res.full[0] - urlLosses[0]) / urlLosses[0] < 1e-6, `whole UNet ${res.full[0]}, LoRA ${urlLosses[0]}`);
    assert.deepEqual(res.fullImage, [32, 32, true]);
    assert.equal(res.exportAdapter, 'exportAdapter: this run trains the whole UNet (no `lora`); use exportUnet()');
    assert.ok(res.unetBytes > fs.statSync(path.join(DIR, 'unet', 'weights.pb')).size, 'exportUnet holds the weights inline');
  });

  it('pictures are centre-cropped as in Node: the 32x32 centre of a 48x32 picture gives torch\'s train_pixels', async () => {
    const res = await inPage<{ names: string[]; pixels: number[][] }>(page, `
      const set = await lib.listCaptionedData(await files('/crop/', ['wide.png', 'wide.txt']));
      const pixels = [];
      for (const it of set.items) pixels.push(Array.from(await lib.captionedPixels(set, it, 32)));
      return { names: set.items.map((it) => it.file + ': ' + it.caption), pixels };
    `);
    assert.deepEqual(res.names, ['wide.png: a red shoe']);
    const want = npyToFloat32(decodeNpy(fs.readFileSync(path.join(DIR, 'reference', 'train_pixels.npy'))));
    for (const p of res.pixels) assert.ok(maxAbsDiff(p, want) < 1e-6, `pixels vs train_pixels.npy: ${maxAbsDiff(p, want)}`);
  });

  it('bad input gets one line naming the file: not an image, a caption not UTF-8, no metadata.jsonl at a folder URL, no data', async () => {
    const res = await inPage<Record<string, string>>(page, `
      const good = await files('/pics/', ['p0.png', 'p0.txt']);
      const make = (data) => fail(lib.createTrainer('/tiny-sd/', { data, lora: 4, resolution: 32, numThreads: 1 }));
      return {
        notImage: await make([...good, new File(['not a picture'], 'p1.png'), new File(['a cat'], 'p1.txt')]),
        encoding: await make([good[0], new File([new Uint8Array([0xff, 0xfe, 0x61, 0x00])], 'p0.txt')]),
        noMeta: await make('/nometa/'),
        noCaption: await make([good[0]]),
        noData: await fail(lib.createTrainer('/tiny-sd/', { lora: 4 })),
      };
    `);
    assert.match(res.notImage, /^p1\.png: cannot decode image \(.+\)$/);
    assert.equal(res.encoding, 'p0.txt: caption is not valid UTF-8 text (save it as UTF-8)');
    assert.equal(res.noMeta, `${server.url}nometa/metadata.jsonl: not found (a data folder URL needs a metadata.jsonl naming its pictures: `
      + 'a static server cannot list a folder; or drop the files)');
    assert.equal(res.noCaption, 'p0.png: has no caption (expected p0.txt beside it, or a metadata.jsonl)');
    assert.match(res.noData, /^data is needed: /);
    for (const m of Object.values(res)) assert.ok(!m.includes('\n'), m);
  });

  it('the demo page lora.html: dropped files train a LoRA with loss and progress, sample a prompt, download adapter.safetensors, keep and forget the encodings', async () => {
    const demo = await browser.context.newPage();
    const errors: string[] = [];
    demo.on('pageerror', (e) => errors.push(e.message));
    await demo.goto(`${server.url}lora.html?threads=1`);
    // A data URL without metadata.jsonl: one line in the page's status.
    await demo.fill('#data-url', 'nometa/');
    await demo.click('#train');
    await demo.waitForSelector('#progress.error');
    assert.equal(await demo.textContent('#progress'), `${server.url}nometa/metadata.jsonl: not found (a data folder URL needs a metadata.jsonl naming its pictures: `
      + 'a static server cannot list a folder; or drop the files)');
    await demo.fill('#data-url', '');
    const pics = path.join(dir, 'site', 'pics');
    await demo.setInputFiles('#data-files', Array.from({ length: 8 }, (_, k) => [`p${k}.png`, `p${k}.txt`]).flat().map((f) => path.join(pics, f)));
    for (const [id, v] of [['rank', '4'], ['steps', '4'], ['batch', '2'], ['lr', '0.01'], ['resolution', '32'], ['sample-steps', '1']]) await demo.fill(`#${id}`, v);
    await demo.check('#cache');
    await demo.click('#train');
    await demo.waitForFunction(() => /^Done: 4 steps, last loss \d/.test(document.getElementById('progress')!.textContent ?? ''), undefined, { timeout: 120_000 });
    assert.ok(await demo.isEnabled('#sample'));
    await demo.click('#sample');
    await demo.waitForFunction(() => (document.getElementById('progress')!.textContent ?? '').startsWith('Sampled'), undefined, { timeout: 60_000 });
    const picture = await demo.evaluate(`(() => {
      const c = document.getElementById('image');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return { w: c.width, h: c.height, lit: d.some((v, i) => i % 4 !== 3 && v > 0) };
    })()`) as { w: number; h: number; lit: boolean };
    assert.deepEqual(picture, { w: 32, h: 32, lit: true });
    const [download] = await Promise.all([demo.waitForEvent('download'), demo.click('#download')]);
    assert.equal(download.suggestedFilename(), 'adapter.safetensors');
    const adapter = decodeAdapter(fs.readFileSync((await download.path())!), 'adapter.safetensors');
    assert.equal(adapter.spec.rank, 4);
    assert.ok(adapter.tensors.size > 0);
    // "Keep the encodings" stored them in IndexedDB; "Forget kept encodings" deletes the database.
    const databases = () => demo.evaluate('indexedDB.databases().then((d) => d.map((x) => x.name))') as Promise<string[]>;
    assert.deepEqual(await databases(), ['onnx-diffusion-encodings']);
    await demo.click('#clear-cache');
    await demo.waitForFunction(() => document.getElementById('progress')!.textContent === 'Kept encodings forgotten.');
    assert.deepEqual(await databases(), []);
    assert.deepEqual(errors, []);
    await demo.close();
  });
});
