import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readModelConfig } from '../../src/core/model-config';
import { checkFeeds, expectedFeeds } from '../../src/core/feed-check';
import { buildModel } from '../../src/nn/model';
import { loadRecipe } from '../../src/nn/recipe-file';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { feedsFor, GRAPHS } from '../nn/helpers';

const load = (name: string) => loadRecipe(path.join(GRAPHS, name));
const configOf = (name: string) => {
  const cfg = readModelConfig(buildModel(load(name)).metadata, name);
  assert.ok(cfg);
  return cfg;
};

describe('checkFeeds', () => {
  it('accepts the feeds of every conditioning kind, and expects exactly the inputs the model has', () => {
    for (const name of ['unet-tiny.json', 'unet-fashion-mnist-class.json', 'unet-multilabel.json', 'unet-sr-14-28.json', 'unet-img2img.json']) {
      const model = buildModel(load(name));
      assert.deepEqual(Object.keys(expectedFeeds(configOf(name))).sort(), model.graph.inputs.map((i) => i.name).sort(), name);
      assert.doesNotThrow(() => checkFeeds(configOf(name), feedsFor(load(name), 2)), name);
    }
  });

  it('names a wrong-shaped conditioning image before ORT sees it', () => {
    const feeds = feedsFor(load('unet-sr-14-28.json'), 2);
    feeds.cond = Tensor.float32([2, 1, 14, 14]);
    assert.throws(() => checkFeeds(configOf('unet-sr-14-28.json'), feeds), /^DiffusionError: cond: expected \[N,1,28,28\] \(N = 2 from x\), got \[2,1,14,14\]$/);
  });

  it('names missing, unexpected, mistyped and batch-mismatched inputs', () => {
    const cfg = configOf('unet-fashion-mnist-class.json');
    const feeds = () => feedsFor(load('unet-fashion-mnist-class.json'), 2);
    assert.throws(() => { const f = feeds(); delete f.class; checkFeeds(cfg, f); }, /class: missing input, expected int64 \[N\]/);
    assert.throws(() => checkFeeds(cfg, { ...feeds(), cond: Tensor.float32([2, 1, 32, 32]) }), /cond: not an input of this model \(inputs: x, t, class\)/);
    assert.throws(() => checkFeeds(cfg, { ...feeds(), t: Tensor.float32([2]) }), /t: expected int64, got float32/);
    assert.throws(() => checkFeeds(cfg, { ...feeds(), t: Tensor.int64([3], [1, 2, 3]) }), /t: expected \[N\] \(N = 2 from x\), got \[3\]/);
    assert.throws(() => checkFeeds(cfg, { ...feeds(), x: Tensor.float32([2, 3, 32, 32]) }), /x: expected \[N,1,32,32\], got \[2,3,32,32\]/);
    assert.throws(() => checkFeeds(cfg, { ...feeds(), class: Tensor.int64([2], [3, 11]) }), /class: id 11 out of range \[0, 10\] \(10 is the null class\)/);
  });

  it('the null class and zero labels run, and change the output (conditioning is wired in)', async function () {
    this.timeout(60000);
    for (const [name, key] of [['unet-fashion-mnist-class.json', 'class'], ['unet-multilabel.json', 'labels'], ['unet-img2img.json', 'cond'], ['unet-sr-14-28.json', 'aug']] as const) {
      const r = load(name);
      const s = await NodeSession.create(buildModel(r));
      const f = feedsFor(r, 2);
      const a = (await s.run(f)).out.data as Float32Array;
      const g = f[key];
      const changed = g.dtype === 'int64' ? Tensor.int64(g.dims, g.toNumbers().map((v, i) => (key === 'class' ? (i === 0 ? 10 : v) : v + 7))) : Tensor.float32(g.dims, g.toNumbers().map((v) => v * 0.5 + 0.25));
      const b = (await s.run({ ...f, [key]: changed })).out.data as Float32Array;
      assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-6), `${name}: output does not depend on ${key}`);
      await s.release();
    }
  });
});
