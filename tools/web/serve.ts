/**
 * A tiny static server for the web demo, on 127.0.0.1 only:
 *
 *   node --import tsx tools/web/serve.ts [--dir web-dist] [--port 8080]
 *
 * It sends COOP/COEP headers so the page is crossOriginIsolated (SharedArrayBuffer, hence ORT's
 * WASM threads), and the MIME types browsers insist on for .mjs, .wasm and .onnx.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

export interface ServeOptions {
  dir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Send COOP/COEP (default true); without them the page gets one WASM thread. */
  isolate?: boolean;
}

export interface StaticServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function serveStatic(options: ServeOptions): Promise<StaticServer> {
  const root = path.resolve(options.dir);
  if (!fs.existsSync(root)) throw new Error(`${root}: no such folder (run tools/web/build.ts first)`);
  const server = http.createServer((req, res) => {
    const headers: Record<string, string> = { 'Cache-Control': 'no-cache' };
    if (options.isolate !== false) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    const send = (status: number, body: string) => {
      res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(400, 'bad path');
    }
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (file !== root && !file.startsWith(root + path.sep)) return send(403, 'forbidden');
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return send(404, `not found: ${rel}`);
      res.writeHead(200, {
        ...headers,
        'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': String(st.size),
        'Cross-Origin-Resource-Policy': 'same-origin',
      });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        port,
        close: () => new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = opt('--dir') ?? path.resolve(__dirname, '..', '..', 'web-dist');
  const portText = opt('--port') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    console.error(`error: --port must be an integer in [0, 65535] (0 picks a free port), got "${portText}"`);
    process.exit(1);
  }
  new Promise<StaticServer>((resolve) => resolve(serveStatic({ dir, port, isolate: !args.includes('--no-isolate') }))).then(
    (s) => console.log(`serving ${path.resolve(dir)} at ${s.url} (COOP/COEP ${args.includes('--no-isolate') ? 'off' : 'on'}); Ctrl-C stops`),
    (e: NodeJS.ErrnoException) => {
      console.error(`error: ${e.code === 'EADDRINUSE' ? `127.0.0.1:${port} is in use (pick another --port, or --port 0 for a free one)` : e.message}`);
      process.exit(1);
    },
  );
}
