/**
 * Builds the browser bundle and the demo page into one static folder:
 *
 *   node --import tsx tools/web/build.ts [--out web-dist] [--model PATH] [--no-webgpu] [--no-train] [--no-minify]
 *
 * web-dist/
 *   onnx-diffusion.mjs (+ .map)        the library (src/web/index.ts), ESM, browser platform
 *   chunk-*.mjs                        onnxruntime-web, split per backend, loaded on first use
 *   ort-wasm-simd-threaded.{mjs,wasm}  ORT's WASM runtime (and .asyncify.* for WebGPU)
 *   index.html, demo.js, style.css     the demo page (demo.js imports ./onnx-diffusion.mjs)
 *   train.html, train.js               the fine-tuning page (same library, same styles)
 *   lora.html, lora.js                 LoRA for a Stable Diffusion folder from captioned pictures
 *   models/fashion-mnist.onnx          the shipped model the fine-tuning page starts from
 *   data/fashion-mnist-sample.{bin,json}  32 test-split images per Fashion-MNIST class, to fine-tune on
 *   models/default.onnx                with --model: the model the demo opens on load
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';

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
  /** The fine-tuning page with the shipped model and sample images (default true; 4.8 MB). */
  train?: boolean;
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
    if (/^(onnx-diffusion|chunk-|demo|train|lora)\S*\.(mjs|js|map)$/.test(f)) fs.rmSync(path.join(outDir, f));
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

  // The demos import the library as a separate module, the way another page would.
  const pages = options.train === false ? ['demo'] : ['demo', 'train', 'lora'];
  await esbuild.build({
    entryPoints: Object.fromEntries(pages.map((p) => [p, path.join(__dirname, 'demo', `${p}.ts`)])),
    outdir: outDir,
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
  for (const f of ['index.html', 'style.css', ...(options.train === false ? [] : ['train.html', 'lora.html'])]) copy(path.join(__dirname, 'demo', f), f);
  if (options.train !== false) writeTrainAssets(outDir);
  if (options.model) {
    fs.mkdirSync(path.join(outDir, 'models'), { recursive: true });
    copy(path.resolve(options.model), path.join('models', 'default.onnx'));
  }
  return { outDir, files: fs.readdirSync(outDir).sort() };
}

const SAMPLE_PER_CLASS = 32;

/** The shipped model and a few Fashion-MNIST test images per class (class-major uint8, 28x28), for train.html. */
function writeTrainAssets(outDir: string): void {
  const shipped = path.join(ROOT, 'models', 'fashion-mnist');
  fs.mkdirSync(path.join(outDir, 'models'), { recursive: true });
  fs.copyFileSync(path.join(shipped, 'model.onnx'), path.join(outDir, 'models', 'fashion-mnist.onnx'));
  const images = gunzipSync(fs.readFileSync(path.join(shipped, 't10k-images-idx3-ubyte.gz'))).subarray(16);
  const labels = gunzipSync(fs.readFileSync(path.join(shipped, 't10k-labels-idx1-ubyte.gz'))).subarray(8);
  const per = 28 * 28;
  const out = new Uint8Array(10 * SAMPLE_PER_CLASS * per);
  const taken = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (taken[c] >= SAMPLE_PER_CLASS) continue;
    out.set(images.subarray(i * per, (i + 1) * per), (c * SAMPLE_PER_CLASS + taken[c]++) * per);
  }
  fs.mkdirSync(path.join(outDir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'data', 'fashion-mnist-sample.bin'), out);
  const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  fs.writeFileSync(path.join(outDir, 'data', 'fashion-mnist-sample.json'), JSON.stringify({ classes, perClass: SAMPLE_PER_CLASS, width: 28, height: 28, source: 'Fashion-MNIST test split (models/fashion-mnist, MIT)' }));
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
    else if (a === '--no-train') opts.train = false;
    else if (a === '--no-minify') opts.minify = false;
    else throw new Error(`unknown option ${a} (expected --out DIR, --model PATH, --no-webgpu, --no-train, --no-minify)`);
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
