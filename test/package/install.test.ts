import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';
import { unshippedMdRefs } from './md-refs';

/** The environment of a user's shell: no npm_* variables from the `npm test` that runs this. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS'));
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, env = userEnv()): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

const CJS = `
const t0 = process.hrtime.bigint();
const od = require('onnx-diffusion');
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const eager = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](sharp|onnxruntime-node)[\\\\/]/.test(k));
(async () => {
  const gen = await od.pipeline(od.encodeModel(od.buildModel(od.loadRecipe('unet-tiny'))), { threads: 1 });
  const { rgba } = await gen({ n: 4, seed: 1, steps: 3 });
  await od.writePng('cjs.png', od.makeGrid(rgba));
  await gen.dispose();
  // a subpath entry hands the root the same classes (one CommonJS module graph)
  const graph = require('onnx-diffusion/graph');
  const { buildTrainGraph } = require('onnx-diffusion/train');
  const model = od.decodeModel(od.encodeModel(od.buildModel(od.loadRecipe('unet-tiny'))));
  const subpath = model.graph instanceof graph.Graph && [...model.graph.initializers.values()][0] instanceof graph.Tensor
    && typeof buildTrainGraph === 'function' && require.resolve('onnx-diffusion/graph').endsWith(require('node:path').join('dist', 'entries', 'graph.js'));
  console.log(JSON.stringify({ n: rgba.length, eager, ms, subpath }));
})();
`;

// Asserts it got the ES-module build (dist/index.mjs, not a CommonJS file through Node's interop),
// that errors from either build pass the other's instanceof (the builds share dist/core/errors.js),
// and that a model one build loaded samples through the other's pipeline().
const ESM = `
import { createRequire } from 'node:module';
import { pipeline, buildModel, loadRecipe, encodeModel, decodeModel, writePng, makeGrid, loadModel, DiffusionError } from 'onnx-diffusion';
const require = createRequire(import.meta.url);
const entry = import.meta.resolve('onnx-diffusion');
const cjsLoaded = Object.keys(require.cache).some((k) => /onnx-diffusion[\\\\/]dist[\\\\/]index\\.js$/.test(k));
const gen = await pipeline(encodeModel(buildModel(loadRecipe('unet-tiny'))), { threads: 1 });
const { rgba } = await gen({ n: 2, seed: 1, steps: 3, sampler: 'dpm++2m' });
await writePng('esm.png', makeGrid(rgba));
await gen.dispose();
// subpath entries (dist/<name>.mjs) share the root's classes: one split build, one copy of Graph and Tensor
const graphEntry = await import('onnx-diffusion/graph');
const trainEntry = await import('onnx-diffusion/train');
const built = decodeModel(encodeModel(buildModel(loadRecipe('unet-tiny'))));
const subpath = {
  entry: import.meta.resolve('onnx-diffusion/graph').split('/node_modules/').pop(),
  sameGraph: built.graph instanceof graphEntry.Graph && [...built.graph.initializers.values()][0] instanceof graphEntry.Tensor,
  trainGraph: typeof trainEntry.buildTrainGraph,
  rootIsSmall: Object.keys(await import('onnx-diffusion')).length < 70,
};
const err = await loadModel('missing.onnx').catch((e) => e);
const cjs = require('onnx-diffusion');
// a model loaded by the CommonJS build samples through the ES build's pipeline (left open: its owner releases it)
const cjsModel = await cjs.loadModel(encodeModel(buildModel(loadRecipe('unet-tiny'))), { threads: 1 });
const cross = (await (await pipeline(cjsModel))({ n: 1, seed: 1, steps: 2 })).n;
await cjsModel.dispose();
console.log(JSON.stringify({
  cross, subpath,
  n: rgba.length, entry, cjsLoaded, esmError: err instanceof DiffusionError, crossBuild: err instanceof cjs.DiffusionError,
  sameClass: cjs.DiffusionError === DiffusionError,
}));
`;

// Type-checked only (tsc --noEmit, strict, no skipLibCheck): the README's five lines plus the typed
// options and the web entry's pipeline, createTrainer and imageDataset, once from an ES module (.mts: `import`, the .d.mts types) and once from CommonJS (.cts:
// `require`, the .d.ts types).
const TS_BODY = `
async function main(): Promise<void> {
  const device: Device = 'cpu';
  const sampler: SamplerName = 'dpm++2m';
  const gen = await pipeline('runs/fmnist/model.onnx', { device });
  const ctrl = new AbortController();
  const { images, rgba } = await gen({ n: 16, seed: 1, steps: 25, sampler, guidance: 1, signal: ctrl.signal, onStep: ({ step, total }) => console.log(step, total) });
  console.log(images.length, rgba[0].width);
  await gen({ image: 'start.png', strength: 0.6, latents: new Float32Array(0) });
  // sampler names are open (registerScheduler adds one), so any string type-checks; a typo is refused at run time with "did you mean"
  await gen({ sampler: 'my-registered-scheduler' });
  const backend: Backend = 'wasm';
  const web = await webPipeline(new Uint8Array(0), { backend });
  await web({ n: 1 });
  // README "Fine-tune in the browser": types only, no browser runs this
  const trainer = await createTrainer('model.onnx', undefined, { steps: 200, batch: 8, lr: 1e-4, backend });
  const data = await imageDataset([new Blob([])], trainer.config.image);
  await trainer.fit(data, { signal: ctrl.signal, onStep: ({ step, loss }) => console.log(step, loss) });
  const bytes: Uint8Array = trainer.exportModel();
  console.log(bytes.length);
  // the subpath entries' types: the graph IR and the training-graph builder
  const model: Model = decodeModel(bytes);
  const graph: Graph = model.graph;
  const tg: TrainGraph = buildTrainGraph(model, { kind: 'cross-entropy', logits: 'logits' }, { batch: 8 });
  console.log(graph.nodes.length, tg.layout.total);
  await gen.dispose();
}
void main;
`;
const MTS = `
import { pipeline, decodeModel, type SamplerName, type Device } from 'onnx-diffusion';
import { pipeline as webPipeline, createTrainer, imageDataset, type Backend } from 'onnx-diffusion/web';
import type { Graph, Model } from 'onnx-diffusion/graph';
import { buildTrainGraph, type TrainGraph } from 'onnx-diffusion/train';
// @ts-expect-error: the ES-module build has no default export (so these are its types, not the CommonJS build's)
import od from 'onnx-diffusion';
void od;
${TS_BODY}`;
// A CommonJS file cannot require() ES-module types (TS1479), so this also shows \`require\` resolves to the .d.ts.
const CTS = `
import od = require('onnx-diffusion');
import webEntry = require('onnx-diffusion/web');
import graphEntry = require('onnx-diffusion/graph');
import trainEntry = require('onnx-diffusion/train');
const { pipeline, decodeModel } = od;
const { pipeline: webPipeline, createTrainer, imageDataset } = webEntry;
const { buildTrainGraph } = trainEntry;
type SamplerName = od.SamplerName;
type Device = od.Device;
type Backend = webEntry.Backend;
type Graph = graphEntry.Graph;
type Model = graphEntry.Model;
type TrainGraph = trainEntry.TrainGraph;
${TS_BODY}`;

describe('package: npm pack, then install into a fresh app from the registry cache and use it', function () {
  this.timeout(240_000);
  let tmp: string;
  let app: string;
  let files: string[];
  let firstInstall: string;
  let secondInstall: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-pack-'));
    const out = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: repoRoot(), env: userEnv(), encoding: 'utf8' })) as { filename: string; files: { path: string }[] }[];
    files = out[0].files.map((f) => f.path);
    app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // The README's install line: onnxruntime-node's CUDA download skipped, so no host but the registry is needed.
    // --prefer-offline, not --offline: an app without a lockfile resolves every range from the packuments
    // (registry metadata), and `npm ci` caches only tarballs. Tried 2026-11-26 (npm 11.19.1): a cache that
    // `npm ci` of this repository had just filled gave ENOTCACHED for cli-progress's packument with --offline.
    firstInstall = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, out[0].filename)], app, userEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
    // docs/install.md's persistent set-up: the app's package.json denies the two install scripts, so
    // its later plain installs need neither the variable nor nuget.org (onnxruntime-node's script
    // downloads its CUDA provider there; tried 2026-12-03 without this: `getaddrinfo ENOTFOUND api.nuget.org`).
    run('npm', ['pkg', 'set', 'allowScripts.onnxruntime-node=false', 'allowScripts.protobufjs=false', '--json'], app);
    fs.rmSync(path.join(app, 'node_modules'), { recursive: true });
    secondInstall = run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], app);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("the install runs no script of onnx-diffusion's (no `prepare`), and the app's second plain `npm ci` passes with no script left uncovered", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'onnx-diffusion', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.deepEqual(Object.keys(pkg.scripts).filter((k) => /^(pre|post)?(install|prepare)$/.test(k)), []);
    // the repository keeps its `prepare` (`npm ci` there builds dist/): prepack renamed it for the tarball only, postpack back
    const repo = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.ok(repo.scripts.prepare && !repo.scripts._prepare && pkg.scripts._prepare === repo.scripts.prepare);
    assert.doesNotMatch(firstInstall, /onnx-diffusion@/);
    assert.doesNotMatch(secondInstall, /install-scripts|allowScripts/);
    assert.ok(fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-node', 'package.json')));
  });

  it('every runtime dependency is imported by the shipped code or its declarations (dist/)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const dist = path.join(app, 'node_modules', 'onnx-diffusion', 'dist');
    const code = (fs.readdirSync(dist, { recursive: true }) as string[]).filter((f) => /\.(m?js|d\.m?ts)$/.test(f)).map((f) => fs.readFileSync(path.join(dist, f), 'utf8')).join('\n');
    const unused = Object.keys(pkg.dependencies).filter((d) => !new RegExp(`(require\\(|from |import\\()['"]${d}(/[^'"]*)?['"]`).test(code));
    assert.deepEqual(unused, []);
  });

  it('the tarball holds dist, graphs, models and docs, and no source maps or src/', () => {
    assert.ok(files.includes('dist/index.js') && files.includes('dist/web/index.d.ts'));
    assert.ok(files.includes('dist/index.mjs') && files.includes('dist/index.d.mts'));
    for (const entry of ['graph', 'autodiff', 'train', 'diffusion', 'eval']) {
      for (const f of [`dist/${entry}.mjs`, `dist/${entry}.d.mts`, `dist/entries/${entry}.js`, `dist/entries/${entry}.d.ts`]) assert.ok(files.includes(f), `${f} is not in the tarball`);
    }
    assert.ok(files.includes('graphs/unet-tiny.json') && files.includes('models/fashion-mnist-classifier/model.onnx'));
    assert.ok(files.includes('docs/cuda.md') && files.includes('README.md'));
    assert.deepEqual(files.filter((f) => f.endsWith('.map') || f.startsWith('src/')), []);
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so')));
  });

  it("the build leaves the package's bin executable, so `npx onnx-diffusion` runs in this repository", () => {
    const bin = path.join(repoRoot(), 'dist', 'cli', 'main.js');
    assert.ok((fs.statSync(bin).mode & 0o111) !== 0, `${bin} is not executable`);
    assert.match(run(bin, ['--version'], repoRoot()), /\d+\.\d+\.\d+/);
  });

  it('no shipped doc (docs/, README.md, model cards) or dist file (code, messages, types) names a .md file the tarball lacks', () => {
    const pkg = path.join(app, 'node_modules', 'onnx-diffusion');
    assert.match(fs.readFileSync(path.join(pkg, 'dist', 'runtime', 'cuda.js'), 'utf8'), /cuda\.md/);
    assert.deepEqual(unshippedMdRefs(pkg, files), []);
  });

  it("a CommonJS script samples with pipeline() and writes a PNG; require() loads neither sharp nor onnxruntime-node; a subpath entry shares the root's classes", () => {
    fs.writeFileSync(path.join(app, 'sample.cjs'), CJS);
    const out = JSON.parse(run(process.execPath, ['sample.cjs'], app).trim().split('\n').pop()!) as { n: number; eager: string[]; subpath: boolean };
    assert.equal(out.n, 4);
    assert.equal(out.subpath, true, 'require("onnx-diffusion/graph") is dist/entries/graph.js, and its Graph and Tensor are the root\'s');
    assert.deepEqual(out.eager, []);
    assert.ok(fs.statSync(path.join(app, 'cjs.png')).size > 100);
  });

  it("the README's install snippet, saved as app.mjs as it says, goes from the installed tarball to a PNG (n and steps cut to 1 and 2)", () => {
    const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Installing it in your app'));
    assert.match(section, /save these lines as `app\.mjs` and run `node app\.mjs`/);
    const snippet = section.match(/```ts\n([\s\S]*?)```/)![1];
    assert.match(snippet, /pipeline\('fashion-mnist'\)/);
    const fast = snippet.replace('n: 16, seed: 1, steps: 25', 'n: 1, seed: 1, steps: 2');
    assert.notEqual(fast, snippet, 'the README snippet no longer samples with { n: 16, seed: 1, steps: 25 }: update this test');
    fs.writeFileSync(path.join(app, 'app.mjs'), fast);
    run(process.execPath, ['app.mjs'], app);
    const png = fs.readFileSync(path.join(app, 'grid.png'));
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.equal(png.readUInt32BE(16), 32 * 4 + 2 * 2, 'one 32 px tile at scale 4 with its border'); // IHDR width
  });

  it('an ES module gets the ES-module build (dist/index.mjs) and samples; its errors are the CommonJS build\'s classes; its subpath entries share the root\'s classes', () => {
    fs.writeFileSync(path.join(app, 'sample.mjs'), ESM);
    const out = JSON.parse(run(process.execPath, ['sample.mjs'], app).trim().split('\n').pop()!) as Record<string, unknown>;
    assert.match(String(out.entry), /\/node_modules\/onnx-diffusion\/dist\/index\.mjs$/);
    const subpath = { entry: 'onnx-diffusion/dist/graph.mjs', sameGraph: true, trainGraph: 'function', rootIsSmall: true };
    assert.deepEqual(out, { cross: 1, subpath, n: 2, entry: out.entry, cjsLoaded: false, esmError: true, crossBuild: true, sameClass: true });
    assert.ok(fs.existsSync(path.join(app, 'esm.png')));
  });

  it('a Node app gets no onnxruntime-web (an optional peer); the web entry then names the package to install', () => {
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-web')));
    fs.writeFileSync(path.join(app, 'web.cjs'), "require('onnx-diffusion/web').loadModel(new Uint8Array(8)).catch((e) => console.log(e.message));");
    assert.match(run(process.execPath, ['web.cjs'], app), /^onnxruntime-web could not be loaded \(.*\); install it beside onnx-diffusion: npm install onnxruntime-web@1\.29\.0$/m);
  });

  it('a bundler takes the ES-module web build and tree-shakes it: the app chunk stays under 90 kB (every scheduler of the one registry included)', async () => {
    fs.writeFileSync(path.join(app, 'web-app.mjs'), [
      "import { loadModel, createSampler, toImageData } from 'onnx-diffusion/web';",
      "const model = await loadModel('model.onnx');",
      'const { rgba } = await createSampler(model, { steps: 25, seed: 1 }).sample(4);',
      'document.body.append(String(toImageData(rgba[0]).width));',
    ].join('\n'));
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [path.join(app, 'web-app.mjs')], absWorkingDir: app, bundle: true, format: 'esm', splitting: true, platform: 'browser',
      minify: true, write: false, outdir: path.join(app, 'web-dist'), external: ['onnxruntime-web', 'onnxruntime-web/*'], metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    assert.ok(inputs.some((f) => f.endsWith('onnx-diffusion/dist/esm/web/index.js')), inputs.join('\n'));
    // Whole files a page does not use are dropped: the protobuf writer and LoRA (encodeModel, insertLora).
    const used = Object.keys(r.metafile.outputs[Object.keys(r.metafile.outputs).find((o) => o.endsWith('web-app.js'))!].inputs);
    assert.deepEqual(used.filter((f) => /onnx-proto|protobufjs|nn\/lora\.js/.test(f)), []);
    const chunk = r.outputFiles.find((f) => f.path.endsWith('web-app.js'))!;
    console.log(`      web app chunk: ${chunk.contents.length} bytes (minified, onnxruntime-web external)`);
    assert.ok(chunk.contents.length < 90_000, `${chunk.contents.length} bytes`);
  });

  it('the CLI finds a shipped recipe by name from the app folder', () => {
    const bin = path.join(app, 'node_modules', '.bin', 'onnx-diffusion');
    run(bin, ['build-graph', '--recipe', 'unet-tiny', '--out', 'tiny'], app);
    assert.ok(fs.statSync(path.join(app, 'tiny', 'model.onnx')).size > 1000);
  });

  /** The TypeScript 5 compiler: the `typescript5` alias of devDependencies, else installed beside the app from the npm cache. */
  function tsc5(): string {
    try {
      return require.resolve('typescript5/bin/tsc', { paths: [repoRoot()] });
    } catch {
      const dir = path.join(tmp, 'ts5');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'ts5', private: true }));
      const spec = (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.typescript5;
      run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `typescript5@${spec}`], dir);
      return path.join(dir, 'node_modules', 'typescript5', 'bin', 'tsc');
    }
  }

  // No Node types: TS 7 includes no @types by default; TS 5 would include the app's @types/node
  // (protobufjs 6 brings it), so `types: []` says "no Node" there. Our declarations name no Node
  // global (a Buffer in dist/image/png.d.ts failed this with TS2591 before 2026-12-03).
  const compilers: [string, () => string, string[] | undefined][] = [
    ['TypeScript 7', () => path.join(repoRoot(), 'node_modules', 'typescript', 'bin', 'tsc'), undefined],
    ['TypeScript 5', tsc5, []],
  ];
  for (const [version, tsc, types] of compilers) {
    for (const [resolution, module] of [['nodenext', 'nodenext'], ['node16', 'node16'], ['bundler', 'preserve']]) {
      it(`${version} (moduleResolution ${resolution}, strict, no skipLibCheck, no Node types) checks an import and a require consumer against the published types`, () => {
        fs.writeFileSync(path.join(app, 'sample.mts'), MTS);
        fs.writeFileSync(path.join(app, 'sample.cts'), CTS);
        const config = `tsconfig.${resolution}.json`;
        fs.writeFileSync(path.join(app, config), JSON.stringify({
          compilerOptions: { strict: true, module, moduleResolution: resolution, target: 'es2022', lib: ['es2022', 'dom'], noEmit: true, types },
          files: ['sample.mts', 'sample.cts'],
        }));
        const r = spawnSync(process.execPath, [tsc(), '-p', config], { cwd: app, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stdout + r.stderr);
      });
    }
  }

  // node10 (TypeScript 5's `moduleResolution: node`) reads no "exports": package.json's typesVersions maps the subpaths.
  it('TypeScript 5 (moduleResolution node10) finds the subpath entries\' types through typesVersions', () => {
    fs.writeFileSync(path.join(app, 'sample-node10.ts'), [
      "import { decodeModel } from 'onnx-diffusion';",
      "import type { Graph } from 'onnx-diffusion/graph';",
      "import { buildTrainGraph, type TrainGraph } from 'onnx-diffusion/train';",
      "import { grad } from 'onnx-diffusion/autodiff';",
      "import { schedules } from 'onnx-diffusion/diffusion';",
      "import { frechetDistance } from 'onnx-diffusion/eval';",
      "import type { Backend } from 'onnx-diffusion/web';",
      'const model = decodeModel(new Uint8Array(0));',
      'const g: Graph = model.graph;',
      "const tg: TrainGraph = buildTrainGraph(model, { kind: 'cross-entropy', logits: 'logits' });",
      "const backend: Backend = 'wasm';",
      'export const out = [g, tg, grad, schedules.make, frechetDistance, backend];',
    ].join('\n'));
    fs.writeFileSync(path.join(app, 'tsconfig.node10.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'commonjs', moduleResolution: 'node10', target: 'es2022', lib: ['es2022', 'dom'], noEmit: true, types: [], ignoreDeprecations: '5.0' },
      files: ['sample-node10.ts'],
    }));
    const r = spawnSync(process.execPath, [tsc5(), '-p', 'tsconfig.node10.json'], { cwd: app, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
