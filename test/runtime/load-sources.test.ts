import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildModel, createSampler, encodeModel, loadModel, loadRecipe } from '../../src';
import { repoRoot } from '../helpers/paths';

describe("Node's loadModel: a path, a shipped name, bytes (Uint8Array or ArrayBuffer) or a URL", function () {
  this.timeout(60_000);
  const bytes = encodeModel(buildModel(loadRecipe('unet-tiny')));
  let tmp: string;
  let server: http.Server;
  let base: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-load-'));
    fs.writeFileSync(path.join(tmp, 'model.onnx'), bytes);
    server = http.createServer((req, res) => {
      if (req.url === '/model.onnx') res.end(bytes);
      else res.writeHead(404, 'Not Found').end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function firstImage(src: Parameters<typeof loadModel>[0]): Promise<Float32Array> {
    const model = await loadModel(src, { threads: 1 });
    try {
      assert.equal(model.config.image.size, 16);
      return (await createSampler(model, { steps: 2, seed: 3 }).sample(1)).images;
    } finally {
      await model.release();
    }
  }

  it('an ArrayBuffer (with the metadata read), an http URL (object or string) and a file URL give the same sample as the bytes', async () => {
    const ref = await firstImage(bytes);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    assert.deepEqual(await firstImage(ab), ref);
    assert.deepEqual(await firstImage(new URL(`${base}/model.onnx`)), ref);
    assert.deepEqual(await firstImage(`${base}/model.onnx`), ref);
    assert.deepEqual(await firstImage(pathToFileURL(path.join(tmp, 'model.onnx'))), ref);
  });

  it('a URL that fails names the URL and the HTTP status', async () => {
    await assert.rejects(loadModel(`${base}/missing.onnx`), new RegExp(`^FileFormatError: ${base}/missing\\.onnx: HTTP 404 Not Found$`));
  });

  it('a shipped model name reads models/<name>/model.onnx from the package (the classifier is not a denoiser)', async () => {
    const file = path.join(repoRoot(), 'models', 'fashion-mnist-classifier', 'model.onnx');
    await assert.rejects(loadModel('fashion-mnist-classifier'), (e: Error) => e.message.startsWith(`${file}: `));
  });
});
