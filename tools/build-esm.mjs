// The ES-module build for bundlers, after `tsc` has written the CommonJS one: every src/ file as
// an ES module under dist/esm/ (imports kept as written), so a bundler drops whole files a page does
// not use (package.json: "sideEffects": false) -- the browser entry's unused ONNX protobuf
// code (onnx-proto, ~100 kB) included. One bundled file would keep it: onnx-proto is not marked
// side-effect free, so its import would stay. package.json exports dist/esm/web/index.js under
// the "module" condition, which bundlers (esbuild, webpack 5, Vite, Rollup) match and Node does
// not: Node keeps the CommonJS build (onnx-proto has no named ES exports), and the CommonJS
// build's .d.ts types both. A .mjs script (no tsx): it runs in `npm run build` and `prepare`.
import * as esbuild from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
// The files the browser entry reaches (the Node-only ones are CommonJS-only by design).
const graph = await esbuild.build({
  entryPoints: [join(src, 'web', 'index.ts')], bundle: true, write: false, metafile: true, packages: 'external', format: 'esm', logLevel: 'silent',
});
const files = Object.keys(graph.metafile.inputs).map((f) => join(root, f));
rmSync(join(root, 'dist', 'esm'), { recursive: true, force: true });
await esbuild.build({
  entryPoints: files,
  outdir: join(root, 'dist', 'esm'),
  outbase: src,
  bundle: false,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
});
