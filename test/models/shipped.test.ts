import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createEvaluator, pipeline } from '../../src';
import { classEntropy, predictedClasses } from '../../src/entries/eval';
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

  it("its samples score what its model card says (DPM-Solver++(2M), 10 steps): confidence and class entropy at N = 64, within the sampling error", async () => {
    // The card's row, scored at N = 1000: | DPM-Solver++(2M) | 10 | 1000 | FD | FD / floor | confidence | entropy | ...
    const card = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    const row = /^\| DPM-Solver\+\+\(2M\) \| 10 \| 1000 \| [\d.]+ \| [\d.]+x \| ([\d.]+) \| ([\d.]+) \|/m.exec(card);
    assert.ok(row, 'the model card has a DPM-Solver++(2M) 10-step row');
    const [cardConfidence, cardEntropy] = [Number(row[1]), Number(row[2])];
    const n = 64;
    const gen = await pipeline('fashion-mnist', { threads: 2 });
    const { images } = await gen({ n, seed: 0, steps: 10, sampler: 'dpm++2m' });
    await gen.release();
    // FD is not checked here: at N = 64 its small-sample bias (about tr(cov) / N) outgrows the card's
    // value (measured at N = 100, 2026-12-03: 17.5 for these samples, 19.8 for real training images).
    // Confidence and entropy depend on the samples only (not on the reference set): a small one will do.
    const ev = await createEvaluator({ referenceN: 100, threads: 2 });
    const e = await ev.net.embed(images, n, { channels: 1, size: 32 });
    await ev.release();
    // Confidence, a mean over images: within 4 standard errors of this N and of the card's N = 1000
    // (the per-image spread measured here), i.e. a 1-in-15,000 false alarm for a model that still
    // scores as its card says.
    const conf = Array.from({ length: n }, (_, i) => Math.max(...e.probs.subarray(i * e.k, (i + 1) * e.k)));
    const mean = conf.reduce((a, c) => a + c, 0) / n;
    const sd = Math.sqrt(conf.reduce((a, c) => a + (c - mean) ** 2, 0) / (n - 1));
    const tol = 4 * sd * Math.sqrt(1 / n + 1 / 1000);
    assert.ok(Math.abs(mean - cardConfidence) <= tol, `confidence ${mean.toFixed(3)} at N = ${n}, the card's ${cardConfidence} (tolerance ${tol.toFixed(3)})`);
    // Class entropy of the predicted classes: the plug-in estimate is biased low by about
    // (K - 1) / (2 N ln 2) bits (Miller-Madow; 0.10 at N = 64), plus 0.15 bits of sampling spread.
    const entropy = classEntropy(predictedClasses(e.probs, n, e.k), e.k);
    const floor = cardEntropy - (e.k - 1) / (2 * n * Math.LN2) - 0.15;
    console.log(`      N = ${n}: confidence ${mean.toFixed(3)} (card ${cardConfidence} +- ${tol.toFixed(3)}), class entropy ${entropy.toFixed(2)} bits (card ${cardEntropy}, >= ${floor.toFixed(2)})`);
    assert.ok(entropy >= floor && entropy <= Math.log2(e.k) + 1e-9, `class entropy ${entropy.toFixed(2)} bits at N = ${n}, the card's ${cardEntropy} (at least ${floor.toFixed(2)})`);
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
