import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEvaluator, pipeline, Rng } from '../../src';
import { repoRoot } from '../helpers/paths';

describe('models/fashion-mnist: the shipped unconditional diffusion model', function () {
  this.timeout(180_000);
  const dir = path.join(repoRoot(), 'models', 'fashion-mnist');

  it('loads by name, samples deterministically per seed, and its metadata matches its model card', async () => {
    const gen = await pipeline('fashion-mnist', { threads: 1 });
    const a = await gen({ n: 2, seed: 3, steps: 5 });
    const b = await gen({ n: 2, seed: 3, steps: 5 });
    const c = await gen({ n: 2, seed: 4, steps: 5 });
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images);
    const config = gen.model.config;
    assert.deepEqual(config.image, { channels: 1, size: 32 });
    const card = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    const step = config.training?.step;
    assert.ok(step && card.includes(`${step.toLocaleString('en-US')} steps`), `the card names the ${step} training steps in its metadata`);
    assert.ok(card.includes(config.training?.data ?? '?'), 'the card names the training data in its metadata');
    await gen.release();
  });

  it("its samples score far closer to the test split than noise does (the shipped classifier's features)", async () => {
    const gen = await pipeline('fashion-mnist', { threads: 2 });
    const n = 48;
    const { images } = await gen({ n, seed: 1, steps: 20, sampler: 'ddim' });
    await gen.release();
    const ev = await createEvaluator({ referenceN: 1000, threads: 2 });
    const samples = await ev.score(images, n, { source: 'shipped', channels: 1, size: 32 });
    const noise = await ev.score(Float32Array.from(new Rng(5).normalArray(images.length), (v) => Math.max(-1, Math.min(1, v * 0.5))), n, { source: 'noise', channels: 1, size: 32 });
    assert.ok(samples.fd * 2 < noise.fd, `FD of samples ${samples.fd.toFixed(1)} vs noise ${noise.fd.toFixed(1)}`);
    assert.ok(samples.entropy > 2.5, `class entropy of samples ${samples.entropy.toFixed(2)} bits`);
  });
});

describe('models/fashion-mnist.fp16: the half-stored copy of the shipped model', function () {
  this.timeout(180_000);

  it('loads by name, is half the size, and samples what the float32 file samples up to float16 rounding', async () => {
    const dir = path.join(repoRoot(), 'models', 'fashion-mnist');
    const ratio = fs.statSync(path.join(dir, 'model.fp16.onnx')).size / fs.statSync(path.join(dir, 'model.onnx')).size;
    assert.ok(ratio > 0.5 && ratio < 0.53, `size ratio ${ratio.toFixed(3)}`);
    const full = await pipeline('fashion-mnist', { threads: 1 });
    const half = await pipeline('fashion-mnist.fp16', { threads: 1 });
    assert.deepEqual(half.model.config, full.model.config);
    const a = await full({ n: 2, seed: 5, steps: 10 });
    const b = await half({ n: 2, seed: 5, steps: 10 });
    await full.release();
    await half.release();
    let worst = 0;
    let sum = 0;
    for (let i = 0; i < a.images.length; i++) {
      const d = Math.abs(a.images[i] - b.images[i]);
      worst = Math.max(worst, d);
      sum += d;
    }
    assert.ok(worst > 0, 'the weights were rounded, so the samples differ somewhere');
    assert.ok(sum / a.images.length < 0.02, `mean |difference| ${(sum / a.images.length).toFixed(4)} on [-1, 1] pixels`);
  });
});

describe('models/fashion-mnist-class: the shipped class-conditional model (classifier-free guidance)', function () {
  this.timeout(180_000);
  const dir = path.join(repoRoot(), 'models', 'fashion-mnist-class');

  it('loads by name, samples deterministically per seed and class, and its metadata matches its model card', async () => {
    const gen = await pipeline('fashion-mnist-class', { threads: 1 });
    const a = await gen({ n: 2, seed: 3, steps: 5, classes: [1, 7], guidance: 3 });
    const b = await gen({ n: 2, seed: 3, steps: 5, classes: [1, 7], guidance: 3 });
    const c = await gen({ n: 2, seed: 3, steps: 5, classes: [2, 8], guidance: 3 });
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images, 'the requested class changes the image');
    const config = gen.model.config;
    assert.equal(config.conditioning.classes, 10);
    const card = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    const step = config.training?.step;
    assert.ok(step && card.includes(`${step.toLocaleString('en-US')} steps`), `the card names the ${step} training steps in its metadata`);
    assert.ok(card.includes(config.training?.data ?? '?'), 'the card names the training data in its metadata');
    assert.ok(fs.existsSync(path.join(dir, 'model.fp16.onnx')), 'the half-stored copy ships beside it');
    await gen.release();
  });

  it('guided samples are classified as the requested class far above chance (64 samples, the shipped classifier)', async () => {
    const gen = await pipeline('fashion-mnist-class', { threads: 2 });
    const n = 64;
    const requested = Array.from({ length: n }, (_, i) => i % 10);
    const { images } = await gen({ n, seed: 11, steps: 20, sampler: 'ddim', classes: requested, guidance: 3 });
    await gen.release();
    const ev = await createEvaluator({ referenceN: 1000, threads: 2 });
    const s = await ev.score(images, n, { source: 'shipped class', channels: 1, size: 32, requested });
    await ev.release();
    // Chance is 0.1; 64 draws at chance exceed 0.3 with probability below 1e-5 (binomial tail).
    assert.ok((s.accuracy ?? 0) > 0.6, `guided accuracy ${s.accuracy?.toFixed(3)}`);
    assert.ok(s.entropy > 3, `class entropy ${s.entropy.toFixed(2)} bits`);
  });
});
