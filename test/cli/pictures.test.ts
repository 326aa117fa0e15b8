import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { fixture, repoRoot } from '../helpers/paths';
import { cli } from '../helpers/cli';

/** cols x rows cells of s*k pixels with `border` around and between (independent of src/image). */
const tiled = (cols: number, rows: number, s: number, k = 1, border = 2) => [cols * s * k + (cols + 1) * border, rows * s * k + (rows + 1) * border];

async function size(file: string): Promise<number[]> {
  const m = await sharp(file).metadata();
  return [m.width!, m.height!];
}

describe('onnx-diffusion dataset and forward', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pictures-test-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const out = (name: string) => path.join(tmp, name);

  it('dataset: a grid of Fashion-MNIST at its own 28x28, upscaled', async () => {
    const r = cli('dataset', '--data', 'fashion-mnist', '--n', '10', '--upscale', '2', '--out', out('fm.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('fm.png')), tiled(4, 3, 28, 2));
  });

  it('dataset: --size and --channels override the data set shape', async () => {
    const r = cli('dataset', '--data', 'synthetic:20', '--n', '9', '--size', '12', '--channels', '3', '--out', out('syn.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('syn.png')), tiled(3, 3, 12));
    const m = await sharp(out('syn.png')).metadata();
    assert.equal(m.channels! >= 3, true);
  });

  it('dataset: the same seed picks the same images, another seed others', () => {
    const run = (seed: string, name: string) => {
      assert.equal(cli('dataset', '--data', 'fashion-mnist', '--n', '4', '--seed', seed, '--out', out(name)).code, 0);
      return fs.readFileSync(out(name));
    };
    assert.ok(run('1', 'a.png').equals(run('1', 'b.png')));
    assert.ok(!run('1', 'a.png').equals(run('2', 'c.png')));
  });

  it('forward: rows = images, columns = the listed timesteps', async () => {
    const r = cli('forward', '--data', 'fashion-mnist', '--n', '3', '--timesteps', '0,100,999', '--schedule', 'cosine', '--out', out('fw.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('fw.png')), tiled(3, 3, 28));
  });

  it('forward: default timesteps with a model\'s schedule and image size (ours and the fixture)', async () => {
    const tiny = out('tiny.onnx');
    fs.writeFileSync(tiny, encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs', 'unet-tiny.json')))));
    const r = cli('forward', '--data', 'fashion-mnist', '--model', tiny, '--out', out('fw-model.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('fw-model.png')), tiled(6, 8, 16));
    const t = cli('forward', '--data', 'synthetic', '--model', fixture('torch-unet-16px.onnx'), '--config', fixture('torch-unet-16px.json'), '--n', '2', '--out', out('fw-torch.png'));
    assert.equal(t.code, 0, t.stderr);
    assert.deepEqual(await size(out('fw-torch.png')), tiled(6, 2, 16));
  });

  it('forward: the first column is the clean image, the last nearly pure noise', async () => {
    const r = cli('forward', '--data', 'fashion-mnist', '--n', '1', '--timesteps', '0,999', '--border', '0', '--out', out('ends.png'));
    assert.equal(r.code, 0, r.stderr);
    const ds = cli('dataset', '--data', 'fashion-mnist', '--n', '1', '--border', '0', '--out', out('clean.png'));
    assert.equal(ds.code, 0, ds.stderr);
    const { data } = await sharp(out('ends.png')).greyscale().raw().toBuffer({ resolveWithObject: true });
    const clean = (await sharp(out('clean.png')).greyscale().raw().toBuffer()) as Buffer;
    let diff0 = 0;
    let diffT = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        diff0 = Math.max(diff0, Math.abs(data[y * 56 + x] - clean[y * 28 + x]));
        diffT += Math.abs(data[y * 56 + 28 + x] - clean[y * 28 + x]);
      }
    }
    // At t = 0, sqrt(1 - abar) = 0.01: a few byte levels of noise at most.
    assert.ok(diff0 <= 8, `t = 0 differs from the clean image by ${diff0}`);
    assert.ok(diffT / 784 > 40, `t = 999 is too close to the clean image (${diffT / 784})`);
  });

  it('bad input gets one line', () => {
    const cases: [string[], RegExp][] = [
      [['forward', '--data', 'fashion-mnist', '--timesteps', '0,1000', '--out', out('x.png')], /^error: --timesteps: 1000 is outside \[0, 999\]$/],
      [['forward', '--data', 'fashion-mnist', '--schedule', 'quadratic', '--out', out('x.png')], /^error: --schedule must be one of linear\|cosine\|sigmoid\|scaled-linear, got "quadratic"$/],
      [['dataset', '--data', 'nope:x', '--out', out('x.png')], /^error: unknown data set kind 'nope'/],
      [['dataset', '--data', 'fashion-mnist', '--n', '0', '--out', out('x.png')], /^error: --n must be a positive integer, got 0$/],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
