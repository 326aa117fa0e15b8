/**
 * A tiny sampling service: loads a model once, then answers
 *   GET /sample?seed=3&steps=20&class=2&n=1&upscale=4&sampler=ddim   -> image/png
 *   GET /health                                                     -> model config (JSON)
 * It listens on 127.0.0.1 only. Run:
 *   node --import tsx tools/examples/http-server.ts --model runs/fashion/model.onnx [--port 8080]
 * `--port 0` picks a free port; the first stdout line is `listening on http://127.0.0.1:PORT`.
 */
import * as http from 'node:http';
// In your own project: from 'onnx-diffusion'.
import { createSampler, DiffusionError, encodeImage, loadModel, makeGrid } from '../../src';

interface ServerOptions {
  model: string;
  config?: string;
  port: number;
}

function parseArgs(argv: string[]): ServerOptions {
  const opts: Partial<ServerOptions> = { port: 8080 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--model') opts.model = value;
    else if (flag === '--config') opts.config = value;
    else if (flag === '--port') opts.port = Number(value);
    else throw new Error(`unknown flag ${flag} (expected --model, --config, --port)`);
  }
  if (!opts.model) throw new Error('usage: http-server.ts --model model.onnx [--config c.json] [--port 8080]');
  return opts as ServerOptions;
}

/** An integer query parameter within [lo, hi], or its default. */
function intParam(q: URLSearchParams, name: string, dflt: number | undefined, lo: number, hi: number): number | undefined {
  const raw = q.get(name);
  if (raw === null) return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < lo || v > hi) throw new DiffusionError(`${name} must be an integer in [${lo}, ${hi}], got "${raw}"`);
  return v;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const model = await loadModel(opts.model, { config: opts.config });
  const T = model.config.diffusion.timesteps;
  // One request at a time: a session runs one batch at a time, and each request is already
  // parallel inside ONNX Runtime.
  let queue: Promise<unknown> = Promise.resolve();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (url.pathname === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(model.config));
      return;
    }
    if (url.pathname !== '/sample') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('try /sample?seed=0\n');
    const job = queue.then(async () => {
      const q = url.searchParams;
      const classes = model.config.conditioning.classes;
      if (q.has('class') && classes === undefined) throw new DiffusionError('class given but the model is not class-conditional');
      const cls = intParam(q, 'class', undefined, 0, (classes ?? 1) - 1);
      const sampler = createSampler(model, {
        sampler: q.get('sampler') ?? undefined,
        steps: intParam(q, 'steps', 20, 1, T),
        seed: intParam(q, 'seed', 0, 0, 2 ** 31 - 1),
        classes: cls,
      });
      const { rgba } = await sampler.sample(intParam(q, 'n', 1, 1, 64)!);
      const upscale = intParam(q, 'upscale', 4, 1, 16)!;
      const png = await encodeImage(rgba.length === 1 ? makeGrid(rgba, { border: 0, scale: upscale }) : makeGrid(rgba, { scale: upscale }), '.png');
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    });
    queue = job.catch((e: unknown) => {
      const status = e instanceof DiffusionError ? 400 : 500;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    });
  });

  server.listen(opts.port, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  });
  const stop = () => server.close(() => void model.release().then(() => process.exit(0)));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
