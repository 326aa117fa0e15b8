/**
 * The other "pipelines" are recipe choices run through the one trainer and sampler: toy and cold
 * (blur) diffusion by recipe kind, multi-label conditioning (folder + labels.csv, context
 * modulation), image-to-image (paired:DIR). Each trains a few steps of a shrunk copy of its shipped
 * recipe and samples. The samplers' math (toy oracle, blur monotonicity) is tested in test/diffusion.
 */
import { strict as assert } from 'node:assert';
import { openDataset } from '../../src/data/open';
import { DEFAULT_COLD } from '../../src/core/model-config';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createSampler } from '../../src/diffusion/sampler';
import { readImage } from '../../src/image';
import { loadRecipe } from '../../src/nn';
import { DiffusionModel } from '../../src/runtime/model';
import { train } from '../../src/train/trainer';
import { repoRoot } from '../helpers/paths';
import { mean, shrunkRecipe, tmp, writeGrey } from './helpers';

const fast = { batch: 8, lr: 3e-3, threads: 2, seed: 3, warmup: 0 };
const load = async (dir: string) => DiffusionModel.create(ort, readFileSync(join(dir, 'model.onnx')), { source: dir });
const fell = (losses: number[], what: string) =>
  assert.ok(mean(losses.slice(-6)) < mean(losses.slice(0, 4)), `${what}: loss did not fall: ${losses.slice(0, 4)} -> ${losses.slice(-6)}`);

describe('recipe-selected pipelines', () => {
  it('the shipped recipes parse with the kind and conditioning each pipeline needs', () => {
    const r = (n: string) => loadRecipe(join(repoRoot(), 'graphs', `${n}.json`));
    assert.equal(r('unet-toy').kind, 'toy');
    assert.equal(r('unet-cold-blur').kind, 'cold-blur');
    assert.equal(r('unet-multilabel').unet.context, 'modulate');
    assert.equal(r('unet-multilabel').conditioning.labels, 4);
    assert.equal(r('unet-img2img').conditioning.condChannels, 1);
    assert.deepEqual(r('unet-sr-14-28').conditioning.lowResSize, r('unet-fashion-mnist-14').image.size);
  });

  it('toy diffusion (kind toy): trains a few steps, loss falls, the toy sampler makes images of the right shape', async () => {
    const out = tmp();
    const r = await train({ ...fast, recipe: shrunkRecipe('unet-toy', 8), data: 'synthetic:64', steps: 20, out });
    fell(r.losses, 'toy');
    const model = await load(out);
    assert.equal(model.config.kind, 'toy');
    const res = await createSampler(model, { steps: 4, seed: 1 }).sample(2);
    assert.deepEqual([res.n, res.c, res.h, res.w], [2, 1, 8, 8]);
    assert.ok(res.images.every(Number.isFinite));
    await model.release();
  });

  it('cold diffusion (kind cold-blur): trains a few steps, loss falls, the cold sampler makes images of the right shape', async () => {
    const out = tmp();
    const r = await train({ ...fast, recipe: shrunkRecipe('unet-cold-blur', 8), data: 'synthetic:64', steps: 20, out });
    fell(r.losses, 'cold-blur');
    const model = await load(out);
    assert.equal(model.config.kind, 'cold-blur');
    // The blur the network was trained on and the start distribution travel in the metadata.
    const data = await openDataset('synthetic:64', { channels: 1, size: 8, seed: fast.seed });
    const px = new Float32Array(64);
    const means = Array.from({ length: data.length }, (_, i) => (data.image(i, px, 0), px.reduce((a, v) => a + v, 0) / 64));
    const mean = means.reduce((a, v) => a + v, 0) / means.length;
    assert.equal(model.config.cold?.blurStd, DEFAULT_COLD.blurStd);
    assert.ok(Math.abs(model.config.cold!.startMean - mean) < 1e-5, `${model.config.cold!.startMean} vs ${mean}`);
    assert.ok(model.config.cold!.startStd > 0);
    const res = await createSampler(model, { seed: 1 }).sample(2);
    assert.deepEqual([res.n, res.c, res.h, res.w], [2, 1, 8, 8]);
    assert.ok(res.images.every(Number.isFinite));
    await model.release();
  });

  it('multi-label (folder + labels.csv, context modulation): trains a few steps, loss falls, samples per label vector', async () => {
    const dir = tmp();
    const rows = ['file,a,b,c,d'];
    for (let i = 0; i < 12; i++) {
      await writeGrey(join(dir, `img${i}.png`), 8, i);
      rows.push(`img${i}.png,${i % 3 === 0 ? 1 : 0},${i % 3 === 1 ? 1 : 0},${i % 3 === 2 ? 1 : 0},${i % 2}`);
    }
    writeFileSync(join(dir, 'labels.csv'), `${rows.join('\n')}\n`);
    const out = tmp();
    const r = await train({ ...fast, recipe: shrunkRecipe('unet-multilabel', 8), data: `folder:${dir}`, steps: 20, out });
    fell(r.losses, 'multi-label');
    const model = await load(out);
    assert.equal(model.config.conditioning.labels, 4);
    const res = await createSampler(model, { sampler: 'ddim', steps: 4, labels: [1, 0, 0, 1, 0, 1, 0, 0] }).sample(2);
    assert.deepEqual([res.n, res.c, res.h, res.w], [2, 1, 8, 8]);
    assert.ok(res.images.every(Number.isFinite));
    await model.release();
  });

  it('image-to-image (paired:DIR cond/ target/): trains a few steps, loss falls, samples from a condition image', async () => {
    const dir = tmp();
    for (let i = 0; i < 12; i++) {
      await writeGrey(join(dir, 'target', `p${i}.png`), 8, i);
      await writeGrey(join(dir, 'cond', `p${i}.png`), 8, i + 1);
    }
    const out = tmp();
    const r = await train({ ...fast, recipe: shrunkRecipe('unet-img2img', 8), data: `paired:${dir}`, steps: 20, out });
    fell(r.losses, 'img2img');
    const model = await load(out);
    const cond = await readImage(join(dir, 'cond', 'p0.png'), { channels: 1, size: 8 });
    const res = await createSampler(model, { sampler: 'ddim', steps: 4, cond, seed: 2 }).sample(2);
    assert.deepEqual([res.n, res.c, res.h, res.w], [2, 1, 8, 8]);
    assert.ok(res.images.every(Number.isFinite));
    await assert.rejects(createSampler(model, { steps: 4 }).sample(1), /needs a condition image/);
    await model.release();
  });
});
