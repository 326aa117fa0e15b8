import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { serveStatic, StaticServer } from '../../tools/web/serve';

describe('web: the static demo server', () => {
  let dir: string;
  let server: StaticServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-serve-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
    fs.writeFileSync(path.join(dir, 'lib.mjs'), 'export {};');
    fs.writeFileSync(path.join(dir, 'ort.wasm'), new Uint8Array([0, 97, 115, 109]));
    fs.mkdirSync(path.join(dir, 'models'));
    fs.writeFileSync(path.join(dir, 'models', 'm.onnx'), new Uint8Array(8));
    server = await serveStatic({ dir });
  });

  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves .mjs, .wasm and .onnx with the MIME types browsers require', async () => {
    const types: Record<string, string | null> = {};
    for (const f of ['', 'lib.mjs', 'ort.wasm', 'models/m.onnx']) types[f] = (await fetch(server.url + f)).headers.get('content-type');
    assert.deepEqual(types, {
      '': 'text/html; charset=utf-8',
      'lib.mjs': 'text/javascript; charset=utf-8',
      'ort.wasm': 'application/wasm',
      'models/m.onnx': 'application/octet-stream',
    });
  });

  it('sends COOP/COEP so the page is cross-origin isolated (WASM threads)', async () => {
    const res = await fetch(`${server.url}lib.mjs`);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
  });

  it('answers 404 for missing files and never serves outside its folder', async () => {
    assert.equal((await fetch(`${server.url}nope.onnx`)).status, 404);
    // A raw request line, since fetch would normalise the dots away before sending.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/../../../etc/passwd' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(status, 404);
    assert.equal((await fetch(`${server.url}models/m.onnx`, { method: 'HEAD' })).headers.get('content-length'), '8');
  });
});
