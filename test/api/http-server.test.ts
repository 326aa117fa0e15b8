import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { repoRoot } from '../helpers/paths';

/** Starts the example server on a free port; resolves with its base URL once it listens. */
function start(model: string): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'tools/examples/http-server.ts', '--model', model, '--port', '0'], { cwd: repoRoot() });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ proc, base: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

describe('tools/examples/http-server.ts', function () {
  this.timeout(120_000);
  let tmp: string;
  let server: { proc: ChildProcess; base: string } | undefined;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'http-test-'));
    const model = path.join(tmp, 'tiny.onnx');
    fs.writeFileSync(model, encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs', 'unet-tiny.json')))));
    server = await start(model);
  });
  after(async () => {
    if (server && server.proc.exitCode === null) {
      const exited = new Promise((r) => server!.proc.once('exit', r));
      server.proc.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and returns one PNG per request', async () => {
    assert.match(server!.base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server!.base}/sample?seed=3&steps=5&upscale=2`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [32, 32]);
    const again = Buffer.from(await (await fetch(`${server!.base}/sample?seed=3&steps=5&upscale=2`)).arrayBuffer());
    assert.ok(png.equals(again), 'same query, same image');
  });

  it('answers a bad parameter with 400 and one line', async () => {
    const res = await fetch(`${server!.base}/sample?steps=5000`);
    assert.equal(res.status, 400);
    assert.equal(await res.text(), 'steps must be an integer in [1, 1000], got "5000"\n');
    const cls = await fetch(`${server!.base}/sample?class=1`);
    assert.equal(cls.status, 400);
  });
});
