import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildModel, encodeModel, loadRecipe, pipeline } from '../../src';
import { cacheDir, type DownloadProgress, resolveRemote } from '../../src/runtime/sources';
import { fixture } from '../helpers/paths';

/** A loopback server over `routes` (path -> bytes), counting GETs per path; `etag` sets an ETag per path. */
async function serve(routes: Record<string, Uint8Array>, etag: Record<string, string> = {}) {
  const gets: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const body = routes[req.url ?? ''];
    if (!body) return res.writeHead(404, 'Not Found').end();
    const headers: http.OutgoingHttpHeaders = { 'content-length': body.length };
    if (etag[req.url!]) headers.etag = `"${etag[req.url!]}"`;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    gets[req.url!] = (gets[req.url!] ?? 0) + 1;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, gets, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('models from anywhere: URLs downloaded into a cache with progress and integrity checks', function () {
  this.timeout(60_000);
  let tmp: string;
  const model = encodeModel(buildModel(loadRecipe('unet-tiny')));
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-sources-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('pipeline(URL) downloads once with per-file progress (bytes of the total), then samples from the cache without a second GET', async () => {
    const srv = await serve({ '/m/model.onnx': model });
    try {
      const events: DownloadProgress[] = [];
      const gen = await pipeline(`${srv.url}/m/model.onnx`, { cache: tmp, threads: 1, progress: (p) => events.push(p) });
      assert.equal((await gen({ steps: 2 })).n, 1);
      await gen.release();
      const last = events[events.length - 1];
      assert.deepEqual([last.status, last.file, last.loaded, last.total], ['done', 'model.onnx', model.length, model.length]);
      assert.ok(events.filter((e) => e.status === 'download').every((e, i, a) => e.total === model.length && (i === 0 || e.loaded > a[i - 1].loaded)));
      const again: DownloadProgress[] = [];
      await (await pipeline(`${srv.url}/m/model.onnx`, { cache: tmp, threads: 1, progress: (p) => again.push(p) })).release();
      assert.deepEqual(again.map((e) => e.status), ['cached']);
      assert.equal(srv.gets['/m/model.onnx'], 1);
    } finally {
      await srv.close();
    }
  });

  it('a stated sha256 (ETag, or #sha256= in the URL) that the bytes do not match fails naming both, and caches nothing', async () => {
    const srv = await serve({ '/a/model.onnx': model, '/b/model.onnx': model }, { '/a/model.onnx': '0'.repeat(64), '/b/model.onnx': sha256(model) });
    try {
      await assert.rejects(resolveRemote(`${srv.url}/a/model.onnx`, { cache: tmp }),
        new RegExp(`^FileFormatError: ${srv.url}/a/model\\.onnx: sha256 ${sha256(model)} differs from the stated 0{64}; nothing was cached$`));
      await assert.rejects(resolveRemote(`${srv.url}/b/model.onnx#sha256=${'1'.repeat(64)}`, { cache: tmp }), /differs from the stated 1{64}/);
      const ok = await resolveRemote(`${srv.url}/b/model.onnx`, { cache: tmp });
      assert.deepEqual(fs.readFileSync(ok), Buffer.from(model));
      const files = fs.readdirSync(tmp, { recursive: true }) as string[];
      assert.deepEqual(files.filter((f) => f.endsWith('.part') || f.includes(`${path.sep}a`) && f.endsWith('.onnx')), []);
    } finally {
      await srv.close();
    }
  });

  it('errors name the URL and the HTTP status, or the network cause (not a bare "fetch failed")', async () => {
    const srv = await serve({});
    const url = srv.url;
    try {
      await assert.rejects(pipeline(`${url}/nope/model.onnx`, { cache: tmp }), new RegExp(`^FileFormatError: ${url}/nope/model\\.onnx: HTTP 404 Not Found$`));
    } finally {
      await srv.close();
    }
    await assert.rejects(pipeline(`${url}/model.onnx`, { cache: tmp }), new RegExp(`^FileFormatError: ${url}/model\\.onnx: could not fetch \\(ECONNREFUSED\\)$`));
  });

  it('a diffusers folder URL fetches the files of the components model_index.json names, external data included', async () => {
    const root = fixture('tiny-sd');
    const routes: Record<string, Uint8Array> = {};
    for (const f of fs.readdirSync(root, { recursive: true }) as string[]) {
      if (fs.statSync(path.join(root, f)).isFile()) routes[`/tiny-sd/${f.split(path.sep).join('/')}`] = fs.readFileSync(path.join(root, f));
    }
    const srv = await serve(routes);
    try {
      const dir = await resolveRemote(`${srv.url}/tiny-sd`, { cache: tmp });
      const got = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
      const want = Object.keys(routes).map((r) => r.slice('/tiny-sd/'.length)).filter((f) => f.includes('/') && !f.startsWith('reference/')).concat('model_index.json');
      assert.deepEqual(got.map((f) => f.split(path.sep).join('/')), want.sort());
      assert.deepEqual(fs.readFileSync(path.join(dir, 'unet', 'weights.pb')), Buffer.from(routes['/tiny-sd/unet/weights.pb']));
    } finally {
      await srv.close();
    }
  });

  it('the default cache folder: $ONNX_DIFFUSION_CACHE, else $XDG_CACHE_HOME/onnx-diffusion, else ~/.cache/onnx-diffusion', () => {
    assert.equal(cacheDir({ ONNX_DIFFUSION_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c');
    assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), path.join('/x', 'onnx-diffusion'));
    assert.equal(cacheDir({}), path.join(os.homedir(), '.cache', 'onnx-diffusion'));
  });
});
