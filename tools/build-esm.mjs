// The ES-module builds, after `tsc` has written the CommonJS one (dist/**/*.js, whose .d.ts type
// every build). A .mjs script (no tsx): it runs in `npm run build` and `prepare`, into dist/, or
// into the folder given as its argument (beside a CommonJS build tsc wrote there).
//
// 1. dist/index.mjs, the Node root entry for `import` (package.json exports["."].import): src/index.ts
//    bundled as an ES module, dependencies left as imports; beside it dist/{graph,autodiff,train,
//    diffusion,eval}.mjs, the subpath entries (src/entries/*.ts), split so that what they share is
//    one copy (dist/esm-chunk-*.mjs). Node-specific pieces:
//    - onnxruntime-node and sharp are loaded lazily with require() (runtime/ort-node.ts, image/sharp.ts),
//      and package-files.ts finds the package from __dirname: the banner defines both from import.meta.url.
//    - onnx-proto is CommonJS only; src/onnx/onnx-proto.ts default-imports it, which Node's ESM loader allows.
//    - The dual-package hazard: an app (or two of its dependencies) may load both builds. The error
//      classes are the ones user code tests with instanceof, so dist/index.mjs does not carry its own:
//      it imports the CommonJS dist/core/errors.js, and `e instanceof DiffusionError` holds whichever
//      build threw. Other classes (DiffusionModel, Tensor, Graph) are per build.
// 2. dist/esm/**, for bundlers (exports["./web"].module): every file the browser entry reaches as
//    an ES module, imports kept as written, so a bundler drops whole files a page does not use
//    (package.json: "sideEffects": false) -- the unused ONNX protobuf code (onnx-proto, ~100 kB)
//    included. One bundled file would keep it: onnx-proto is not marked side-effect free.
import * as esbuild from 'esbuild';
import { chmodSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');

/** Resolves src/core/errors.ts to the CommonJS build's copy beside dist/index.mjs. */
const sharedErrors = {
  name: 'shared-errors',
  setup(build) {
    build.onResolve({ filter: /\/errors$/ }, (args) => {
      if (join(args.resolveDir, args.path) !== join(src, 'core', 'errors')) return undefined;
      return { path: './core/errors.js', external: true };
    });
  },
};

/** The Node entries: the root and the subpaths (package.json exports; src/entries/*.ts). */
const SUBPATHS = ['graph', 'autodiff', 'train', 'diffusion', 'eval'];
const entryPoints = { index: join(src, 'index.ts'), ...Object.fromEntries(SUBPATHS.map((n) => [n, join(src, 'entries', `${n}.ts`)])) };
// All six in one build with code splitting: a module two entries share (Tensor, Graph, DiffusionModel) is one
// chunk beside them (dist/esm-chunk-*.mjs), so `onnx-diffusion` and `onnx-diffusion/graph` hand each other the
// same classes. Every output sits in dist/ itself, where the external './core/errors.js' resolves.
const node = await esbuild.build({
  entryPoints,
  metafile: true,
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'esm-chunk-[hash]',
  splitting: true,
  bundle: true,
  packages: 'external',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  plugins: [sharedErrors],
  banner: {
    js: [
      "import { createRequire as __odCreateRequire } from 'node:module';",
      "import { fileURLToPath as __odFileURLToPath } from 'node:url';",
      'const require = __odCreateRequire(import.meta.url);',
      'const __filename = __odFileURLToPath(import.meta.url);',
      "const __dirname = __odFileURLToPath(new URL('.', import.meta.url));",
    ].join('\n'),
  },
  logLevel: 'warning',
});
// The ES entries' types are the CommonJS entries': one set of declarations, in ES-format files
// (.d.mts) so TypeScript under node16/nodenext/bundler resolution sees `import` get an ES module.
writeFileSync(join(dist, 'index.d.mts'), "export * from './index.js';\n");
for (const n of SUBPATHS) writeFileSync(join(dist, `${n}.d.mts`), `export * from './entries/${n}.js';\n`);
// Chunks of an earlier build (other hashes) are removed, so the package ships only this build's.
const built = new Set(Object.keys(node.metafile.outputs).map((f) => basename(f)));
for (const f of readdirSync(dist)) if (/^esm-chunk-.*\.mjs$/.test(f) && !built.has(f)) rmSync(join(dist, f));

// The files the browser entry reaches (the Node-only ones are in the bundle above).
const graph = await esbuild.build({
  entryPoints: [join(src, 'web', 'index.ts')], bundle: true, write: false, metafile: true, packages: 'external', format: 'esm', logLevel: 'silent',
});
const files = Object.keys(graph.metafile.inputs).map((f) => join(root, f));
rmSync(join(dist, 'esm'), { recursive: true, force: true });
await esbuild.build({
  entryPoints: files,
  outdir: join(dist, 'esm'),
  outbase: src,
  bundle: false,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
});

// The package's bin: npx runs the root package's own bin file directly, so it must be executable
// (tsc writes it 0644; npm sets the mode only for installed dependencies' bins).
chmodSync(join(dist, 'cli', 'main.js'), 0o755);
