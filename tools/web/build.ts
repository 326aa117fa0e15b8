/**
 * Builds the browser bundle and the demo page into one static folder:
 *
 *   node --import tsx tools/web/build.ts [--out web-dist] [--model PATH] [--no-webgpu] [--no-minify]
 *
 * web-dist/
 *   onnx-diffusion.mjs (+ .map)        the library (src/web/index.ts), ESM, browser platform
 *   chunk-*.mjs                        onnxruntime-web, split per backend, loaded on first use
 *   ort-wasm-simd-threaded.{mjs,wasm}  ORT's WASM runtime (and .asyncify.* for WebGPU)
 *   index.html, demo.js, style.css     the demo page (demo.js imports ./onnx-diffusion.mjs)
 *   models/default.onnx                with --model: the model the demo opens on load
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const ORT_DIST = path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');

/** The ORT runtime files each backend's build (see src/web/index.ts) loads at run time. */
const ORT_FILES = {
  wasm: ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'],
  webgpu: ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'],
};

export interface BuildWebOptions {
  /** Output folder (default web-dist at the repository root). */
  outDir?: string;
  /** A model.onnx to ship as models/default.onnx. */
  model?: string;
  /** Copy the WebGPU runtime too (default true; 25 MB). */
  webgpu?: boolean;
  minify?: boolean;
}

export interface BuildWebResult {
  outDir: string;
  files: string[];
}

export async function buildWeb(options: BuildWebOptions = {}): Promise<BuildWebResult> {
  const outDir = path.resolve(options.outDir ?? path.join(ROOT, 'web-dist'));
  const minify = options.minify ?? true;
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) {
    if (/^(onnx-diffusion|chunk-|demo)\S*\.(mjs|js|map)$/.test(f)) fs.rmSync(path.join(outDir, f));
  }

  await esbuild.build({
    entryPoints: { 'onnx-diffusion': path.join(ROOT, 'src/web/index.ts') },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // onnxruntime-web's builds that load the .wasm from a file beside them instead of inlining it.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    minify,
    sourcemap: true,
    logLevel: 'warning',
  });

  // The demo imports the library as a separate module, the way another page would.
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'demo', 'demo.ts')],
    outfile: path.join(outDir, 'demo.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    logLevel: 'warning',
    plugins: [{
      name: 'library-external',
      setup(b) {
        b.onResolve({ filter: /src\/web(\/index)?$/ }, () => ({ path: './onnx-diffusion.mjs', external: true }));
      },
    }],
  });

  const copy = (from: string, to: string) => {
    if (!fs.existsSync(from)) throw new Error(`${from}: missing (is onnxruntime-web installed?)`);
    fs.copyFileSync(from, path.join(outDir, to));
  };
  for (const f of [...ORT_FILES.wasm, ...(options.webgpu === false ? [] : ORT_FILES.webgpu)]) copy(path.join(ORT_DIST, f), f);
  for (const f of ['index.html', 'style.css']) copy(path.join(__dirname, 'demo', f), f);
  if (options.model) {
    fs.mkdirSync(path.join(outDir, 'models'), { recursive: true });
    copy(path.resolve(options.model), path.join('models', 'default.onnx'));
  }
  return { outDir, files: fs.readdirSync(outDir).sort() };
}

function parseArgs(argv: string[]): BuildWebOptions {
  const opts: BuildWebOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: expected a value`);
      return v;
    };
    if (a === '--out') opts.outDir = value();
    else if (a === '--model') opts.model = value();
    else if (a === '--no-webgpu') opts.webgpu = false;
    else if (a === '--no-minify') opts.minify = false;
    else throw new Error(`unknown option ${a} (expected --out DIR, --model PATH, --no-webgpu, --no-minify)`);
  }
  return opts;
}

if (require.main === module) {
  buildWeb(parseArgs(process.argv.slice(2))).then(
    (r) => console.log(`built ${r.outDir}: ${r.files.join(', ')}`),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
