import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelConfig, readModelConfig } from '../../src/core/model-config';
import { parseExperts, serializeExperts } from '../../src/core/cascade-files';
import { checkCoverage, checkExpertModels, ensembleModel, equalRanges, expertsDenoiser } from '../../src/diffusion/cascades/experts';
import { loadEnsemble } from '../../src/runtime/cascades';
import { trainExperts } from '../../src/train/experts';
import { createSampler, SamplerModel } from '../../src/diffusion/sampler';
import { buildModel } from '../../src/nn';
import { mean, tinyRecipe, tmp, writeModel } from './helpers';

const config8: ModelConfig = readModelConfig(buildModel(tinyRecipe(8)).metadata, 'recipe')!;

/** A fake expert: output = its index + 1 everywhere; records the timesteps and extras it saw. */
function fakeExpert(k: number, seen: { k: number; t: number[]; cls?: number[] }[]): SamplerModel {
  return {
    config: { ...config8, conditioning: { classes: 3 } },
    run: async (x, t, extras) => {
      seen.push({ k, t: Array.from(t), cls: extras?.class ? Array.from(extras.class) : undefined });
      return new Float32Array(x.length).fill(k + 1);
    },
  };
}

describe('ensemble of experts', () => {
  it('equal ranges split [0, T-1] into contiguous ranges that pass the coverage check', () => {
    assert.deepEqual(equalRanges([0, 999], 2), [[0, 499], [500, 999]]);
    assert.deepEqual(equalRanges([0, 9], 3), [[0, 3], [4, 6], [7, 9]]);
    assert.deepEqual(equalRanges([1, 50], 1), [[1, 50]]);
    checkCoverage({ experts: equalRanges([0, 99], 3).map((tRange, k) => ({ model: `e${k}`, tRange })) }, [0, 99]);
    assert.throws(() => equalRanges([0, 9], 11), /^OptionError: experts must be an integer in \[1, 10\], got 11/);
  });

  it('dispatches each timestep to its owner, splitting a batch with mixed timesteps and its extras', async () => {
    const seen: { k: number; t: number[]; cls?: number[] }[] = [];
    const model = ensembleModel([fakeExpert(0, seen), fakeExpert(1, seen)], [[0, 49], [50, 99]]);
    const per = 64;
    const x = new Float32Array(4 * per);
    const out = await model.run(x, Int32Array.from([10, 70, 49, 50]), { class: Int32Array.from([0, 1, 2, 3]) });
    assert.deepEqual(Array.from({ length: 4 }, (_, i) => out[i * per]), [1, 2, 1, 2]);
    assert.ok(out.subarray(per, 2 * per).every((v) => v === 2));
    assert.deepEqual(seen, [{ k: 0, t: [10, 49], cls: [0, 2] }, { k: 1, t: [70, 50], cls: [1, 3] }]);
    seen.length = 0;
    await model.run(x, new Int32Array(4).fill(99));
    assert.deepEqual(seen.map((s) => s.k), [1], 'a shared timestep is one call');
    await assert.rejects(model.run(x, new Int32Array(4).fill(100)), /no expert owns timestep 100/);
    assert.equal(model.config.tRange, undefined);
    const d = expertsDenoiser([async (y) => new Float32Array(y.length).fill(5), async (y) => new Float32Array(y.length).fill(6)], [[0, 0], [1, 1]]);
    assert.deepEqual(Array.from(await d(new Float32Array(2), Int32Array.from([1, 0]))), [6, 5]);
  });

  it('train-experts trains 2 experts on 0:49 and 50:99 (losses fall), writes experts.json, and the ensemble samples', async () => {
    const out = tmp();
    const r = await trainExperts({ recipe: tinyRecipe(8), experts: 2, data: 'synthetic:64', steps: 20, batch: 8, lr: 3e-3, threads: 2, seed: 2, warmup: 0, out });
    assert.deepEqual(r.spec, { experts: [{ model: 'expert-0/model.onnx', tRange: [0, 49] }, { model: 'expert-1/model.onnx', tRange: [50, 99] }] });
    for (const res of r.results) assert.ok(mean(res.losses.slice(-6)) < mean(res.losses.slice(0, 4)), `loss did not fall: ${res.losses}`);
    assert.ok(existsSync(join(out, 'expert-1', 'model.onnx')));
    assert.deepEqual(parseExperts(JSON.parse(readFileSync(join(out, 'experts.json'), 'utf8'))), r.spec);
    const ens = await loadEnsemble(join(out, 'experts.json'), { threads: 2 });
    try {
      assert.deepEqual(ens.models.map((m) => m.config.tRange), [[0, 49], [50, 99]]);
      const res = await createSampler(ens.model, { sampler: 'ddim', steps: 6, seed: 3 }).sample(3);
      assert.deepEqual([res.n, res.c, res.h, res.w], [3, 1, 8, 8]);
      assert.ok(res.images.every(Number.isFinite));
    } finally {
      await ens.release();
    }
  });

  it('fine-tunes every expert from a shared model (--from)', async () => {
    const dir = tmp();
    const from = writeModel(join(dir, 'shared', 'model.onnx'), tinyRecipe(8));
    const r = await trainExperts({ init: from, experts: 2, data: 'synthetic:32', steps: 2, batch: 4, threads: 2, out: join(dir, 'ens') });
    assert.deepEqual(r.spec.experts.map((e) => e.tRange), [[0, 49], [50, 99]]);
    await assert.rejects(trainExperts({ init: from, recipe: tinyRecipe(8), experts: 2, out: dir }), /give --recipe .* or --from .*, not both/);
  });

  it('experts files round-trip through parse and serialize', () => {
    const spec = { experts: [{ model: 'e0/model.onnx', tRange: [0, 499] as [number, number] }, { model: 'e1/model.onnx', tRange: [500, 999] as [number, number] }] };
    const text = serializeExperts(spec);
    assert.deepEqual(parseExperts(JSON.parse(text)), spec);
    assert.equal(serializeExperts(parseExperts(JSON.parse(text))), text);
  });

  it('bad experts files give one-line errors: overlap, gap, out of range, mismatched models', () => {
    const f = 'experts.json';
    const spec = (...r: [number, number][]) => ({ experts: r.map((tRange, k) => ({ model: `e${k}/model.onnx`, tRange })) });
    assert.throws(() => checkCoverage(spec([0, 499], [450, 999]), [0, 999], f), /^DiffusionError: experts\.json: experts\[1\]: range 450:999 overlaps experts\[0\] 0:499$/);
    assert.throws(() => checkCoverage(spec([450, 999], [0, 499]), [0, 999], f), /experts\.json: experts\[1\]: range 0:499 overlaps experts\[0\] 450:999/);
    assert.throws(() => checkCoverage(spec([0, 499], [550, 999]), [0, 999], f), /^DiffusionError: experts\.json: gap 500:549 owned by no expert$/);
    assert.throws(() => checkCoverage(spec([10, 999]), [0, 999], f), /experts\.json: gap 0:9 owned by no expert/);
    assert.throws(() => checkCoverage(spec([0, 998]), [0, 999], f), /experts\.json: gap 999:999 owned by no expert/);
    assert.throws(() => checkCoverage(spec([0, 1000]), [0, 999], f), /experts\[0\]: range 0:1000 is outside the model's timesteps 0:999/);
    assert.throws(() => parseExperts({ experts: [] }, f), /experts\.json: experts: expected a non-empty array/);
    assert.throws(() => parseExperts({ experts: [{ model: 'a', tRange: [5, 1] }] }, f), /experts\.json: experts\[0\]\.tRange: expected \[lo, hi\]/);
    assert.throws(() => parseExperts({ experts: [{ tRange: [0, 1] }] }, f), /experts\.json: experts\[0\]\.model: expected a model path/);
    const c16 = readModelConfig(buildModel(tinyRecipe(16)).metadata, 'recipe')!;
    assert.throws(() => checkExpertModels(spec([0, 49], [50, 99]), [config8, c16], f), /experts\.json: experts\[1\]: makes 1x16x16 images, experts\[0\] 1x8x8/);
    const cosine = { ...config8, diffusion: { ...config8.diffusion, schedule: 'cosine' as const } };
    assert.throws(() => checkExpertModels(spec([0, 49], [50, 99]), [config8, cosine], f), /experts\[1\]: its diffusion config .* differs from experts\[0\]'s/);
    assert.throws(() => checkExpertModels(spec([0, 49], [60, 99]), [config8, config8], f), /gap 50:59 owned by no expert/);
  });

  it('an experts file whose ranges leave a gap fails on load, before sampling', async () => {
    const dir = tmp();
    writeModel(join(dir, 'a.onnx'), tinyRecipe(8));
    writeFileSync(join(dir, 'experts.json'), JSON.stringify({ experts: [{ model: 'a.onnx', tRange: [0, 40] }, { model: 'a.onnx', tRange: [50, 99] }] }));
    await assert.rejects(loadEnsemble(join(dir, 'experts.json'), { threads: 1 }), /experts\.json: gap 41:49 owned by no expert/);
  });
});
