/**
 * dispose() on every object that holds ONNX Runtime sessions, and `release()` as its deprecated
 * alias: after either, the sessions are gone (the next run fails, naming the run), and an object
 * that did not load a model leaves it to its owner.
 */
import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel, createSampler, encodeModel, imagePipeline, loadCascade, loadEnsemble, loadModel, loadStableDiffusion, pipeline } from '../../src';
import { TINY_SD } from '../helpers/tiny-sd';
import { buildClassifier, buildTrainGraph, GraphTrainer } from '../../src/entries/train';
import { Tensor } from '../../src/entries/graph';
import { FeatureNet } from '../../src/entries/eval';
import { serializeCascade } from '../../src/core/cascade-files';
import { tinyRecipe, tmp, writeModel } from '../cascades/helpers';

/** ORT refuses a run on a released session ('Session already disposed.'); every wrapper says which run failed. */
const RELEASED = /ONNX Runtime run failed: Session already disposed/;

describe('dispose(): every object that holds sessions frees them; release() is its alias', function () {
  this.timeout(60_000);
  const bytes = encodeModel(buildModel(tinyRecipe(8)));
  let dir: string;
  before(() => {
    dir = tmp();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const method of ['dispose', 'release'] as const) {
    it(`DiffusionModel.${method}() frees the session: the next sample fails naming the run`, async () => {
      const model = await loadModel(bytes, { threads: 1 });
      const sampler = createSampler(model, { steps: 2, seed: 1 });
      assert.equal((await sampler.sample(1)).n, 1);
      await model[method]();
      await assert.rejects(sampler.sample(1), RELEASED);
    });
  }

  it("pipeline(bytes).dispose() frees the model it loaded; pipeline(model).dispose() leaves the caller's model open", async () => {
    const gen = await pipeline(bytes, { threads: 1 });
    assert.equal((await gen({ steps: 2, seed: 1 })).n, 1);
    assert.equal(gen.release, gen.dispose);
    await gen.dispose();
    await assert.rejects(gen({ steps: 2, seed: 1 }), RELEASED);

    const model = await loadModel(bytes, { threads: 1 });
    const borrowed = await pipeline(model);
    await borrowed.dispose();
    assert.equal((await createSampler(model, { steps: 2, seed: 1 }).sample(1)).n, 1);
    await model.dispose();
  });

  it('imagePipeline(model).dispose() calls the model\'s dispose(), or the release() of a model from an older build', async () => {
    const calls: string[] = [];
    const config = (await loadModel(bytes, { threads: 1 })).config;
    const run = async () => new Float32Array(0);
    await imagePipeline({ config, run, dispose: async () => { calls.push('dispose'); } }).dispose();
    await imagePipeline({ config, run, release: async () => { calls.push('release'); } } as never).dispose();
    assert.deepEqual(calls, ['dispose', 'release']);
  });

  it('loadCascade(...).dispose() and loadEnsemble(...).dispose() free every stage and expert', async () => {
    writeModel(join(dir, 'a.onnx'), tinyRecipe(8));
    writeModel(join(dir, 'sr.onnx'), tinyRecipe(16, { condChannels: 1, lowResSize: 8, augment: true }));
    writeFileSync(join(dir, 'cascade.json'), serializeCascade({ stages: [{ model: 'a.onnx', steps: 2 }, { model: 'sr.onnx', steps: 2 }] }));
    writeFileSync(join(dir, 'experts.json'), JSON.stringify({ experts: [{ model: 'a.onnx', tRange: [0, 49] }, { model: 'a.onnx', tRange: [50, 99] }] }));
    const cascade = await loadCascade(join(dir, 'cascade.json'), { threads: 1 });
    assert.equal((await cascade.sample(1, { seed: 1 })).w, 16);
    await cascade.dispose();
    await assert.rejects(cascade.sample(1, { seed: 1 }), RELEASED);
    const sr = cascade.models[1];
    await assert.rejects(sr.run(new Float32Array(16 * 16), new Int32Array([1]), { cond: new Float32Array(16 * 16), aug: new Int32Array([0]) }), RELEASED);
    const ens = await loadEnsemble(join(dir, 'experts.json'), { threads: 1 });
    assert.equal((await createSampler(ens.model, { steps: 2, seed: 1 }).sample(1)).n, 1);
    await ens.release();
    await assert.rejects(createSampler(ens.model, { steps: 2, seed: 1 }).sample(1), RELEASED);
  });

  it('GraphTrainer.dispose() frees the training session: the next step fails', async () => {
    const model = buildClassifier({ image: { channels: 1, size: 8 }, classes: 2, blocks: [[4, 2]], flatten: 0, features: 4, groups: 0, seed: 0 });
    const graph = buildTrainGraph(model, { kind: 'cross-entropy', logits: 'logits' }, { batch: 2 });
    const trainer = await GraphTrainer.create(graph, model, { threads: 1 });
    const data = { x: new Tensor('float32', [2, 1, 8, 8], new Float32Array(128).fill(0.5)), labels: new Tensor('int64', [2], new BigInt64Array([0n, 1n])) };
    assert.ok(Number.isFinite((await trainer.run(data, { lr: 1e-3 })).loss));
    await trainer.dispose();
    await assert.rejects(trainer.run(data, { lr: 1e-3 }), RELEASED);
  });

  it("the evaluator's FeatureNet frees its session on dispose(), and on release() as well", async () => {
    for (const method of ['dispose', 'release'] as const) {
      const net = await FeatureNet.load(undefined, { threads: 1 });
      const x = new Float32Array(28 * 28);
      assert.equal((await net.embed(x, 1)).n, 1);
      await net[method]();
      await assert.rejects(net.embed(x, 1), RELEASED);
    }
  });

  it('a Stable Diffusion pipeline (loadStableDiffusion) frees its text encoder, UNet and VAE sessions on dispose()', async () => {
    const sd = await loadStableDiffusion(TINY_SD, { threads: 1 });
    await sd.dispose();
    await assert.rejects(sd({ prompt: 'a', steps: 1, seed: 1 }), /Session already disposed/);
  });
});
