/**
 * The page's IndexedDB cache of caption encodings (src/web/encoding-cache.ts) in headless
 * Chromium, on the served tiny-sd fixture and eight captioned pictures: reuse gives bit-identical
 * runs, a changed caption, resolution or model re-encodes exactly what it must, clearing works, and
 * a browser without IndexedDB trains without a cache after a warning. Each test has its own
 * browser profile (launchChromium makes a fresh --user-data-dir), so no test sees another's cache.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { makeCaptionedPictures } from '../../tools/web/bench-captioned';
import { launchChromium, type Browser } from '../../tools/web/browser';
import { buildWeb } from '../../tools/web/build';
import { serveStatic, type StaticServer } from '../../tools/web/serve';
import { fixture } from '../helpers/paths';

const DIR = fixture('tiny-sd');
const RUN = { lora: 4, resolution: 32, steps: 3, batch: 2, lr: 1e-2, warmup: 0, condDropout: 0.1, seed: 3, numThreads: 1 };
const NAMES = Array.from({ length: 8 }, (_, k) => [`p${k}.png`, `p${k}.txt`]).flat();

/**
 * Runs `body` in a new page of `browser` with `lib` (the bundle), `files(dir, names, edits)` (File
 * objects from fetched bytes, `edits` replacing some files' text) and `run(url, data, options)` in
 * scope: `run` makes a trainer, fits it (unless `fit: false`), and returns its losses, encodings and onEncode's last report.
 */
async function inPage<T>(browser: Browser, server: StaticServer, body: string, setup?: (page: Page) => Promise<void>): Promise<T> {
  const page: Page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}tiny-sd/model_index.json`);
    await setup?.(page);
    return await page.evaluate(`(async () => {
      const lib = await import(new URL('/onnx-diffusion.mjs', location.href).href);
      const files = (dir, names, edits = {}) => Promise.all(names.map(async (n) =>
        new File([n in edits ? edits[n] : await (await fetch(dir + n)).arrayBuffer()], n)));
      const run = async (url, data, o = {}) => {
        let last;
        const warnings = [];
        const t = await lib.createTrainer(url, { data, ...${JSON.stringify(RUN)}, onEncode: (p) => { last = p; }, onWarning: (m) => warnings.push(m), ...o });
        const losses = o.fit === false ? [] : (await t.fit()).losses;
        const out = { losses, encodings: t.encodings, last, warnings, latents: Array.from(t.encoded.latents), embeddings: Array.from(t.encoded.embeddings) };
        await t.dispose();
        return out;
      };
      ${body}
    })()`) as T;
  } finally {
    await page.close();
  }
}

interface Run {
  losses: number[];
  encodings: { encoded: number; reused: number };
  last: { done: number; total: number; reused: number };
  warnings: string[];
  latents: number[];
  embeddings: number[];
}

describe('web: the IndexedDB cache of caption encodings (headless Chromium)', function () {
  this.timeout(120_000);
  let dir: string;
  let server: StaticServer;
  let browser: Browser | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-cache-web-'));
    const site = path.join(dir, 'site');
    await buildWeb({ outDir: site, webgpu: false });
    fs.symlinkSync(DIR, path.join(site, 'tiny-sd'));
    // A copy whose vae_encoder/model.onnx a test replaces at the same URL.
    fs.cpSync(DIR, path.join(site, 'tiny-sd-copy'), { recursive: true, dereference: true });
    await makeCaptionedPictures(path.join(site, 'pics'));
    server = await serveStatic({ dir: site });
  });

  beforeEach(async () => { browser = await launchChromium(); });
  afterEach(async () => { await browser?.close(); browser = undefined; });

  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a second trainer, in a reopened page, encodes 0 pictures and trains bit for bit as the first; a changed caption re-encodes that item alone; another resolution all', async () => {
    const [first] = await inPage<Run[]>(browser!, server, `return [await run('/tiny-sd/', '/pics/', { cache: true })];`);
    // A new page of the same profile: what reopening the page finds. Dropped files with the same bytes find the folder URL's encodings.
    const [second, changed, small] = await inPage<Run[]>(browser!, server, `return [
      await run('/tiny-sd/', await files('/pics/', ${JSON.stringify(NAMES)}), { cache: true }),
      await run('/tiny-sd/', await files('/pics/', ${JSON.stringify(NAMES)}, { 'p3.txt': 'a green triangle' }), { cache: true, fit: false }),
      await run('/tiny-sd/', '/pics/', { cache: true, resolution: 16, fit: false }),
    ];`);
    assert.deepEqual(first.encodings, { encoded: 8, reused: 0 });
    assert.deepEqual(second.encodings, { encoded: 0, reused: 8 });
    assert.deepEqual(second.last, { done: 8, total: 8, file: 'p7.png', reused: 8 });
    assert.deepEqual(second.latents, first.latents);
    assert.deepEqual(second.embeddings, first.embeddings);
    assert.equal(second.losses.length, RUN.steps);
    assert.deepEqual(second.losses, first.losses);
    assert.deepEqual(changed.encodings, { encoded: 1, reused: 7 });
    assert.deepEqual(changed.last, { done: 8, total: 8, file: 'p7.png', reused: 7 });
    assert.deepEqual(changed.latents, first.latents);
    // Item 3's embedding is new (the text encoder's, for the new caption); the others are the first run's.
    const per = first.embeddings.length / 8;
    const rows = (r: Run) => Array.from({ length: 8 }, (_, i) => r.embeddings.slice(i * per, (i + 1) * per));
    rows(changed).forEach((row, i) => (i === 3 ? assert.notDeepEqual : assert.deepEqual)(row, rows(first)[i], `embedding ${i}`));
    assert.deepEqual(small.encodings, { encoded: 8, reused: 0 });
    assert.equal(small.latents.length * 4, first.latents.length);
    for (const r of [first, second, changed, small]) assert.deepEqual(r.warnings, []);
  });

  it('other encoder bytes at the same URL re-encode all; named caches are apart; clearEncodingCache empties one; without IndexedDB or over quota a warning; a bad option is refused', async () => {
    const o = `const o = { cache: true, fit: false };`;
    const before = await inPage<Run[]>(browser!, server, `${o} return [await run('/tiny-sd-copy/', '/pics/', o), await run('/tiny-sd/', '/pics/', o)];`);
    // Other bytes at the same URL (the static server sends no ETag): a doc_string (ModelProto field 6) appended,
    // which a protobuf reader takes as that field's last value; the graph, and so every latent, is unchanged.
    const vae = path.join(dir, 'site', 'tiny-sd-copy', 'vae_encoder', 'model.onnx');
    fs.writeFileSync(vae, Buffer.concat([fs.readFileSync(vae), Buffer.from([0x32, 0x01, 0x78])]));
    const res = await inPage<Record<string, Run | string>>(browser!, server, `${o}
      const edited = await run('/tiny-sd-copy/', '/pics/', o);
      const named = await run('/tiny-sd/', '/pics/', { ...o, cache: 'mine' });
      await lib.clearEncodingCache();
      const cleared = await run('/tiny-sd/', '/pics/', o);
      const namedKept = await run('/tiny-sd/', '/pics/', { ...o, cache: 'mine' });
      // A browser without IndexedDB (a private window of some browsers): the run goes on.
      delete globalThis.indexedDB;
      const none = await run('/tiny-sd/', '/pics/', o);
      const bad = await lib.createTrainer('/tiny-sd/', { data: '/pics/', cache: '' }).then(() => 'no error', (e) => e.message);
      return { edited, named, cleared, namedKept, none, bad };
    `);
    res.copy = before[0];
    res.first = before[1];
    const enc = (k: string) => (res[k] as Run).encodings;
    assert.deepEqual(enc('copy'), { encoded: 8, reused: 0 });
    assert.deepEqual(enc('first'), { encoded: 8, reused: 0 });
    assert.deepEqual(enc('edited'), { encoded: 8, reused: 0 });
    assert.deepEqual((res.edited as Run).latents, (res.copy as Run).latents);
    assert.deepEqual(enc('named'), { encoded: 8, reused: 0 });
    assert.deepEqual(enc('cleared'), { encoded: 8, reused: 0 });
    assert.deepEqual(enc('namedKept'), { encoded: 0, reused: 8 });
    assert.deepEqual(enc('none'), { encoded: 8, reused: 0 });
    for (const k of ['copy', 'first', 'edited', 'named', 'cleared', 'namedKept']) assert.deepEqual((res[k] as Run).warnings, [], k);
    assert.deepEqual((res.none as Run).warnings, ['cache: this browser has no IndexedDB; encoding without a cache']);
    assert.equal(res.bad, 'cache expected true, false or a cache name (a non-empty string), got ""');
    // The origin's quota set to 1 byte (Chromium's DevTools protocol; what a full disk gives): the encodings cannot be stored,
    // one warning, and the run trains.
    const full = await inPage<Run[]>(browser!, server, `return [await run('/tiny-sd/', '/pics/', { cache: 'full' })];`,
      async (page) => {
        const cdp = await browser!.context.newCDPSession(page);
        await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(server.url).origin, quotaSize: 1 });
      });
    for (const r of full) {
      assert.deepEqual(r.encodings, { encoded: 8, reused: 0 });
      assert.equal(r.warnings.length, 1, r.warnings.join('; '));
      assert.match(r.warnings[0], /^cache: the encodings could not be stored in IndexedDB onnx-diffusion-encodings:full \(QuotaExceededError(: .+)?\); the run goes on without them$/);
    }
    assert.equal(full[0].losses.length, RUN.steps);
  });
});
