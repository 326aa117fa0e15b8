import * as assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as net from 'net';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { repoRoot } from '../helpers/paths';

/** Starts the example server on a free port; resolves with its base URL once it listens. */
function start(model: string, extra: string[] = []): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'tools/examples/http-server.ts', '--model', model, '--port', '0', ...extra], { cwd: repoRoot() });
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
    server = await start(model, ['--queue', '1']);
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

  /** Sends raw bytes and returns the status line of the reply. */
  const raw = (bytes: string) => new Promise<string>((resolve, reject) => {
    const port = Number(new URL(server!.base).port);
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let got = '';
    sock.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) (sock.destroy(), resolve(got.split('\r\n')[0]));
    });
    sock.on('end', () => resolve(got.split('\r\n')[0]));
    sock.on('error', reject);
    setTimeout(() => (sock.destroy(), resolve(got.split('\r\n')[0])), 3000);
  });
  const stats = async () => (await (await fetch(`${server!.base}/stats`)).json()) as { served: number; cancelled: number; refused: number; running: number; queued: number };
  const heavy = (seed: number, signal?: AbortSignal) => fetch(`${server!.base}/sample?steps=1000&n=4&seed=${seed}`, { signal });
  const idle = async () => {
    for (let k = 0; k < 600; k++) {
      const s = await stats();
      if (s.running === 0 && s.queued === 0) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('server never went idle');
  };

  it('a malformed request line or URL gets 400, and the server stays up (issue 26)', async () => {
    assert.match(await raw('GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await raw('GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await raw('GET /sample?steps=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await raw('GET /\u0000 HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.equal((await fetch(`${server!.base}/health`)).status, 200);
  });

  it('a request over the work cap gets 400 naming the cap', async () => {
    const res = await fetch(`${server!.base}/sample?n=64&steps=1000`);
    assert.equal(res.status, 400);
    assert.equal(await res.text(), "work n x steps x pixels = 64 x 1000 x 256 = 16384000 is over this server's cap of 2000000 (--max-work); ask for fewer images or steps\n");
  });

  it('a client that hangs up cancels its job, and the next request is served', async () => {
    const before = await stats();
    const ac = new AbortController();
    const pending = heavy(1, ac.signal).catch((e: Error) => e.name);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    assert.equal(await pending, 'AbortError');
    const after = await idle();
    assert.equal(after.cancelled, before.cancelled + 1);
    assert.equal(after.served, before.served);
    assert.equal((await fetch(`${server!.base}/sample?steps=2`)).status, 200);
  });

  it('a full queue gets 503 with Retry-After; the others are answered', async () => {
    const acs = Array.from({ length: 4 }, () => new AbortController());
    const pending = acs.map((ac, k) => heavy(10 + k, ac.signal).then(
      async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: r.status === 503 ? await r.text() : '' }),
      () => ({ status: 0, retry: null, body: '' }),
    ));
    // One runs, one waits (--queue 1), two are refused at once; then the first two hang up.
    await new Promise((r) => setTimeout(r, 400));
    for (const ac of acs) ac.abort();
    const replies = await Promise.all(pending);
    const refused = replies.filter((r) => r.status === 503);
    assert.equal(refused.length, 2, JSON.stringify(replies));
    for (const r of refused) {
      assert.match(String(r.retry), /^\d+$/);
      assert.match(r.body, /^busy: \d+ requests are waiting/);
    }
    await idle();
    assert.equal((await fetch(`${server!.base}/health`)).status, 200);
  });

  it('an address in use gets one line and exit 1; --port must be a port', async () => {
    const port = new URL(server!.base).port;
    const model = path.join(tmp, 'tiny.onnx');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'tools/examples/http-server.ts', '--model', model, '--port', port], { cwd: repoRoot(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: 127.0.0.1:${port} is in use (pick another --port, or --port 0 for a free one)\n`);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'tools/examples/http-server.ts', '--model', model, '--port', '70000'], { cwd: repoRoot(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.stderr, 'error: --port must be an integer in [0, 65535], got "70000"\n');
  });
});
