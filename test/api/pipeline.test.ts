import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildModel, createSampler, encodeModel, loadModel, loadRecipe, pipeline, Rng, writePng } from '../../src';

describe('pipeline(): one-call sampling in Node, with latents, SDEdit and cancellation', function () {
  this.timeout(120_000);
  const bytes = encodeModel(buildModel(loadRecipe('unet-tiny')));
  const per = 16 * 16;
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-pipeline-'));
    fs.writeFileSync(path.join(tmp, 'model.onnx'), bytes);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('gen({ n, seed, steps, sampler }) from a path equals createSampler(...).sample(n), and reports every step', async () => {
    const gen = await pipeline(path.join(tmp, 'model.onnx'), { threads: 1 });
    const steps: number[] = [];
    const { images, rgba } = await gen({ n: 3, seed: 1, steps: 4, sampler: 'dpm++2m', onStep: (s) => { steps.push(s.step); } });
    assert.equal(images.length, 3 * per);
    assert.equal(rgba.length, 3);
    assert.deepEqual(steps, [0, 1, 2, 3]);
    const ref = await createSampler(gen.model, { seed: 1, steps: 4, sampler: 'dpm++2m' }).sample(3);
    assert.deepEqual(images, ref.images);
    assert.equal((await gen()).n, 1);
    await gen.dispose();
  });

  it("latents: the seed's own x_T reproduces the seeded sample; other latents give another", async () => {
    const gen = await pipeline(bytes, { threads: 1 });
    const plain = await gen({ n: 2, seed: 9, steps: 3 });
    const same = await gen({ n: 2, seed: 9, steps: 3, latents: new Rng(9).normalArray(2 * per) });
    assert.deepEqual(same.images, plain.images);
    const other = await gen({ n: 2, seed: 9, steps: 3, latents: new Rng(10).normalArray(2 * per) });
    assert.notDeepEqual(other.images, plain.images);
    await assert.rejects(gen({ n: 2, latents: new Float32Array(3) }), /^OptionError: latents must have 512 values \(2 x 1 x 16 x 16\), got 3$/);
    await gen.dispose();
  });

  it('SDEdit: strength 0 returns the input image, strength 1 is the plain sample, an image file is read at the model size', async () => {
    const model = await loadModel(bytes, { threads: 1 });
    const gen = await pipeline(model);
    const image = Float32Array.from({ length: per }, (_, i) => ((i % 16) / 15) * 2 - 1);
    const zero = await gen({ n: 2, seed: 3, steps: 5, image, strength: 0 });
    assert.deepEqual(zero.images.subarray(0, per), image);
    assert.deepEqual(zero.images.subarray(per), image);
    const plain = await gen({ n: 2, seed: 3, steps: 5 });
    const one = await gen({ n: 2, seed: 3, steps: 5, image, strength: 1 });
    assert.deepEqual(one.images, plain.images);
    const half: number[] = [];
    await gen({ n: 1, seed: 3, steps: 10, image, strength: 0.5, onStep: (s) => { half.push(s.t); } });
    assert.deepEqual(half, [400, 300, 200, 100, 0]);
    // RGBA input and an image file (sharp reads it) start from the same pixels
    const file = path.join(tmp, 'start.png');
    await writePng(file, zero.rgba[0]);
    const fromFile = await gen({ n: 1, image: file, strength: 0 });
    const fromRgba = await gen({ n: 1, image: zero.rgba[0], strength: 0 });
    assert.deepEqual(fromFile.images, fromRgba.images);
    for (let k = 0; k < per; k++) assert.ok(Math.abs(fromRgba.images[k] - image[k]) <= 1 / 127.5, `pixel ${k}`);
    await gen.dispose();
    assert.equal((await createSampler(model, { steps: 1 }).sample(1)).n, 1, 'a model passed in stays open');
    await model.dispose();
  });

  for (const recipe of ['unet-toy', 'unet-cold-blur']) {
    it(`SDEdit on a ${recipe.slice(5)} model: strength 0 returns the input, strength 1 is the plain sample`, async () => {
      // The shipped recipe at a quarter of the width: the ONNX model is real, only smaller.
      const r = loadRecipe(recipe);
      const gen = await pipeline(encodeModel(buildModel({ ...r, unet: { ...r.unet, base: 8, attention: [] } })), { threads: 1 });
      const image = Float32Array.from({ length: 28 * 28 }, (_, i) => Math.sin(i / 5) * 0.9);
      // a cold-blur model restores all T levels: its scheduler refuses `steps` by name
      const steps = recipe === 'unet-cold-blur' ? {} : { steps: 4 };
      assert.deepEqual((await gen({ n: 1, seed: 2, ...steps, image, strength: 0 })).images, image);
      const plain = await gen({ n: 1, seed: 2, ...steps });
      assert.deepEqual((await gen({ n: 1, seed: 2, ...steps, image, strength: 1 })).images, plain.images);
      const half = await gen({ n: 1, seed: 2, ...steps, image, strength: 0.5 });
      assert.notDeepEqual(half.images, plain.images);
      await gen.dispose();
    });
  }

  it('a cascade or experts file handed to pipeline() is named as such', async () => {
    const file = path.join(tmp, 'cascade.json');
    fs.writeFileSync(file, JSON.stringify({ stages: [{ model: 'base.onnx' }] }));
    await assert.rejects(pipeline(file), new RegExp(`^DiffusionError: ${file.replace(/[.\\/]/g, '\\$&')}: a JSON file, not an ONNX model; `
      + 'pipeline\\(\\) and loadModel\\(\\) take one model \\(a cascade or experts file loads with loadCascade or loadEnsemble\\)$'));
  });

  it('cancelling rejects with a DOMException named AbortError; library errors name options, not flags', async () => {
    const gen = await pipeline(bytes, { threads: 1 });
    const ctrl = new AbortController();
    await assert.rejects(gen({ n: 1, steps: 20, signal: ctrl.signal, onStep: (s) => { if (s.step === 1) ctrl.abort(); } }),
      (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
    await assert.rejects(gen({ strength: 0.5 }), /^OptionError: strength needs an image to start from$/);
    await assert.rejects(gen({ classes: 1 }), /^OptionError: classes given but the model is not class-conditional$/);
    await gen.dispose();
  });
});
