/**
 * A tiny sampling service: loads a model once, then answers
 *   GET /sample?seed=3&steps=20&class=2&n=1&upscale=4&sampler=ddim   -> image/png
 *   GET /health                                                     -> model config (JSON)
 *   GET /stats                                                      -> served/cancelled/refused counts (JSON)
 * It listens on 127.0.0.1 only. Run:
 *   node --import tsx tools/examples/http-server.ts --model runs/fashion/model.onnx [--port 8080]
 * `--port 0` picks a free port; the first stdout line is `listening on http://127.0.0.1:PORT`.
 *
 * It stays up whatever a client sends: a malformed request line or URL gets 400, a full queue
 * 503 with Retry-After, a request over the work cap (images x steps x pixels) 400 naming the cap,
 * and a client that hangs up cancels its job (an AbortSignal into the sampler).
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
// In your own project: from 'onnx-diffusion'.
import { createSampler, DiffusionError, encodeImage, loadModel, makeGrid } from '../../src';

interface ServerOptions {
  model: string;
  config?: string;
  port: number;
  /** Requests waiting behind the running one before new ones get 503. */
  queue: number;
  /** Most n x steps x H x W (model pixels) one request may ask for. */
  maxWork: number;
}

const USAGE = 'usage: http-server.ts --model model.onnx [--config c.json] [--port 8080] [--queue 4] [--max-work 2000000]';

/** A non-negative integer flag value within [lo, hi]. */
function intFlag(flag: string, value: string, lo: number, hi: number): number {
  const v = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(v) || v < lo || v > hi) {
    throw new DiffusionError(`${flag} must be an integer in [${lo}, ${hi}], got "${value}"`);
  }
  return v;
}

function parseArgs(argv: string[]): ServerOptions {
  const opts: Partial<ServerOptions> = { port: 8080, queue: 4, maxWork: 2_000_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (value === undefined) throw new DiffusionError(`${flag} needs a value (${USAGE})`);
    if (flag === '--model') opts.model = value;
    else if (flag === '--config') opts.config = value;
    else if (flag === '--port') opts.port = intFlag('--port', value, 0, 65535);
    else if (flag === '--queue') opts.queue = intFlag('--queue', value, 0, 1000);
    else if (flag === '--max-work') opts.maxWork = intFlag('--max-work', value, 1, Number.MAX_SAFE_INTEGER);
    else throw new DiffusionError(`unknown flag ${flag} (expected --model, --config, --port, --queue, --max-work)`);
  }
  if (!opts.model) throw new DiffusionError(USAGE);
  return opts as ServerOptions;
}

/** An integer query parameter within [lo, hi], or its default. */
function intParam(q: URLSearchParams, name: string, dflt: number | undefined, lo: number, hi: number): number | undefined {
  const raw = q.get(name);
  if (raw === null) return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new DiffusionError(`${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return v;
}

/** A request's URL, or undefined when it cannot be parsed (`GET http://[ HTTP/1.1`). */
function parseUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://127.0.0.1');
  } catch {
    return undefined;
  }
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const model = await loadModel(opts.model, { config: opts.config });
  const T = model.config.diffusion.timesteps;
  const { channels, size } = model.config.image;
  const stats = { served: 0, cancelled: 0, refused: 0, running: 0, queued: 0 };
  // One request at a time: a session runs one batch at a time, and each request is already
  // parallel inside ONNX Runtime. Waiting requests are bounded by --queue.
  let queue: Promise<unknown> = Promise.resolve();

  const text = (res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}) => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(`${body}\n`);
  };

  /** Checks every parameter before the request waits: a bad one never takes a queue place. */
  const plan = (q: URLSearchParams) => {
    const classes = model.config.conditioning.classes;
    if (q.has('class') && classes === undefined) throw new DiffusionError('class given but the model is not class-conditional');
    const cls = intParam(q, 'class', undefined, 0, (classes ?? 1) - 1);
    const steps = intParam(q, 'steps', 20, 1, T)!;
    const n = intParam(q, 'n', 1, 1, 64)!;
    const upscale = intParam(q, 'upscale', 4, 1, 16)!;
    const seed = intParam(q, 'seed', 0, 0, 2 ** 31 - 1);
    const work = n * steps * size * size;
    if (work > opts.maxWork) {
      const product = `${n} x ${steps} x ${size * size} = ${work}`;
      throw new DiffusionError(`work n x steps x pixels = ${product} is over this server's cap of ${opts.maxWork} (--max-work); ask for fewer images or steps`);
    }
    const name = (q.get('sampler') ?? undefined) as NonNullable<Parameters<typeof createSampler>[1]>['sampler'];
    const sampler = createSampler(model, { sampler: name, steps, seed, classes: cls });
    return { sampler, n, upscale };
  };

  const server = http.createServer((req, res) => {
    const url = parseUrl(req.url);
    if (!url) return text(res, 400, 'malformed request URL');
    if (req.method !== 'GET') return text(res, 405, 'only GET');
    if (url.pathname === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(model.config));
      return;
    }
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    if (url.pathname !== '/sample') return text(res, 404, 'try /sample?seed=0');
    let job: ReturnType<typeof plan>;
    try {
      job = plan(url.searchParams);
    } catch (e) {
      return text(res, e instanceof DiffusionError ? 400 : 500, e instanceof DiffusionError ? (e as Error).message : 'internal error');
    }
    if (stats.queued + stats.running >= 1 + opts.queue) {
      stats.refused++;
      return text(res, 503, `busy: ${stats.queued} requests are waiting; try again shortly`, { 'retry-after': String(Math.max(1, stats.queued)) });
    }
    // A client that hangs up (before or during its job) cancels it.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    stats.queued++;
    const run = queue.then(async () => {
      stats.queued--;
      if (abort.signal.aborted) throw new DOMException('client hung up', 'AbortError');
      stats.running++;
      try {
        const { rgba } = await job.sampler.sample(job.n, { signal: abort.signal });
        const grid = rgba.length === 1 ? makeGrid(rgba, { border: 0, scale: job.upscale }) : makeGrid(rgba, { scale: job.upscale });
        const png = await encodeImage(grid, '.png');
        if (abort.signal.aborted) throw new DOMException('client hung up', 'AbortError');
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
        stats.served++;
      } finally {
        stats.running--;
      }
    });
    queue = run.catch((e: unknown) => {
      if (isAbort(e)) return void stats.cancelled++;
      if (e instanceof DiffusionError) return text(res, 400, e.message);
      process.stderr.write(`internal error: ${(e as Error).stack ?? String(e)}\n`);
      text(res, 500, 'internal error');
    });
  });
  // A request line the HTTP parser cannot read never reaches the handler: answer 400 on the socket.
  server.on('clientError', (_err: Error, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  server.on('error', (e: NodeJS.ErrnoException) => {
    const why = e.code === 'EADDRINUSE' ? 'is in use (pick another --port, or --port 0 for a free one)'
      : e.code === 'EACCES' ? 'needs privileges (use a port above 1023, or 0)' : e.message;
    process.stderr.write(`error: 127.0.0.1:${opts.port} ${why}\n`);
    void model.dispose().finally(() => process.exit(1));
  });
  server.listen(opts.port, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(`listening on http://127.0.0.1:${port} (${channels}x${size}x${size} model; queue ${opts.queue}, max work ${opts.maxWork})\n`);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close(() => void model.dispose().then(() => process.exit(0)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof DiffusionError ? e.message : `internal error: ${(e as Error).message}`}\n`);
  process.exit(1);
});
