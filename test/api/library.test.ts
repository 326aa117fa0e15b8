import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildModel, createSampler, DiffusionModel, encodeModel, loadModel, loadRecipe, makeGrid, train } from '../../src';
import { schedules } from '../../src/entries/diffusion';
import * as sampler from '../../src/diffusion/sampler';
import * as grid from '../../src/image/grid';
import * as nnModel from '../../src/nn/model';
import * as recipeFile from '../../src/nn/recipe-file';
import * as proto from '../../src/onnx/proto';
import * as load from '../../src/runtime/load';
import * as trainer from '../../src/train/trainer';
import { fixture, repoRoot } from '../helpers/paths';

const TINY = path.join(repoRoot(), 'graphs', 'unet-tiny.json');

describe('library API (package root)', function () {
  this.timeout(180_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'api-test-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('exports the documented entry points: the implementations themselves, and schedules computing the closed form', () => {
    const impl = { buildModel: nnModel.buildModel, createSampler: sampler.createSampler, encodeModel: proto.encodeModel, loadModel: load.loadModel, loadRecipe: recipeFile.loadRecipe, makeGrid: grid.makeGrid, train: trainer.train };
    const root = { buildModel, createSampler, encodeModel, loadModel, loadRecipe, makeGrid, train };
    for (const [name, f] of Object.entries(root)) assert.equal(f, impl[name as keyof typeof impl], `the package root's ${name}`);
    // Ho et al. 2020: betas linear from 1e-4 to 0.02 over T = 1000, abar_t = prod_{s<=t} (1 - beta_s).
    const s = schedules.make({ timesteps: 1000, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 });
    let abar = 1;
    for (let t = 0; t < 1000; t++) {
      abar *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / 999);
      if (t === 0 || t === 499 || t === 999) assert.ok(Math.abs(s.alphasCumprod[t] - abar) <= 1e-12 * Math.max(abar, 1e-30) + 1e-15, `abar[${t}] ${s.alphasCumprod[t]} vs ${abar}`);
    }
  });

  it('loadModel + createSampler: 2 images from bytes, RGBA of the right length, seeded', async () => {
    const bytes = encodeModel(buildModel(loadRecipe(TINY)));
    const model = await loadModel(bytes);
    assert.ok(model instanceof DiffusionModel);
    const sampler = createSampler(model, { sampler: 'ddim', steps: 4, seed: 1 });
    const a = await sampler.sample(2);
    assert.equal(a.rgba.length, 2);
    for (const img of a.rgba) assert.equal(img.rgba.length, 16 * 16 * 4);
    assert.equal(a.images.length, 2 * 16 * 16);
    const b = await sampler.sample(2);
    assert.deepEqual(b.images, a.images);
    await model.dispose();
  });

  it('loadModel from a path with a JSON config path, and from a checkpoint folder', async () => {
    const foreign = await loadModel(fixture('torch-unet-16px.onnx'), { config: fixture('torch-unet-16px.json'), threads: 1 });
    assert.equal(foreign.config.image.size, 16);
    const { rgba } = await createSampler(foreign, { steps: 2 }).sample(1);
    assert.equal(rgba[0].rgba.length, 16 * 16 * 4);
    await foreign.dispose();
    const dir = path.join(tmp, 'ckpt');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.onnx'), encodeModel(buildModel(loadRecipe(TINY))));
    const ours = await loadModel(dir);
    assert.equal(ours.config.format, 'onnx-diffusion/1');
    await ours.dispose();
  });

  it('loadModel errors are one line naming the problem', async () => {
    await assert.rejects(loadModel(path.join(tmp, 'missing.onnx')), /missing\.onnx: no such file$/);
    await assert.rejects(loadModel(fixture('torch-unet-16px.onnx')), /pass its config \(the `config` option: a JSON file\)$/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"image": ');
    await assert.rejects(loadModel(fixture('torch-unet-16px.onnx'), { config: bad }), /bad\.json: invalid JSON/);
    await assert.rejects(loadModel(fixture('torch-unet-16px.onnx'), { config: { image: { channels: 1 } } }), /config\.image\.size: expected a positive integer/);
  });

  it('an ESM consumer imports the built package by name', function () {
    // Build into a throwaway package folder (not the shared dist/), resolvable as 'onnx-diffusion'.
    const pkg = path.join(tmp, 'node_modules', 'onnx-diffusion');
    fs.mkdirSync(pkg, { recursive: true });
    fs.copyFileSync(path.join(repoRoot(), 'package.json'), path.join(pkg, 'package.json'));
    fs.symlinkSync(path.join(repoRoot(), 'node_modules'), path.join(pkg, 'node_modules'));
    fs.symlinkSync(path.join(repoRoot(), 'graphs'), path.join(pkg, 'graphs'));
    const tsc = spawnSync(process.execPath, [path.join(repoRoot(), 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--outDir', path.join(pkg, 'dist')], { cwd: repoRoot(), encoding: 'utf8' });
    assert.ok(fs.existsSync(path.join(pkg, 'dist', 'index.js')), tsc.stdout + tsc.stderr);
    assert.ok(fs.existsSync(path.join(pkg, 'dist', 'index.d.ts')));
    const esm = spawnSync(process.execPath, [path.join(repoRoot(), 'tools', 'build-esm.mjs'), path.join(pkg, 'dist')], { cwd: repoRoot(), encoding: 'utf8' });
    assert.ok(fs.existsSync(path.join(pkg, 'dist', 'index.mjs')), esm.stdout + esm.stderr);
    const script = path.join(tmp, 'consumer.mjs');
    fs.writeFileSync(script, [
      "import { buildModel, loadRecipe, encodeModel, loadModel, createSampler } from 'onnx-diffusion';",
      "import * as path from 'node:path';",
      "import { createRequire } from 'node:module';",
      "const root = path.dirname(createRequire(import.meta.url).resolve('onnx-diffusion/package.json'));",
      "const model = await loadModel(encodeModel(buildModel(loadRecipe(path.join(root, 'graphs', 'unet-tiny.json')))));",
      'const { rgba } = await createSampler(model, { steps: 2, seed: 0 }).sample(2);',
      "console.log(`ok ${rgba.length} ${rgba[0].rgba.length} ${path.basename(import.meta.resolve('onnx-diffusion'))}`);",
    ].join('\n'));
    const r = spawnSync(process.execPath, [script], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ok 2 1024 index.mjs');
  });
});
