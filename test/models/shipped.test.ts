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
