import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModelConfig } from '../../src/core/model-config';
import { CascadeSpec, parseCascade, serializeCascade } from '../../src/core/cascade-files';
import { checkCascadeModels } from '../../src/diffusion/cascades/cascade';
import { loadCascade } from '../../src/runtime/cascades';
import { modelScheduler, registerScheduler, unregisterScheduler } from '../../src/diffusion/schedulers';
import { buildModel } from '../../src/nn';
import { train } from '../../src/train/trainer';
import { mean, tinyRecipe, tmp, writeModel } from './helpers';

const SR = { condChannels: 1, lowResSize: 8, augment: true };
const configOf = (r: ReturnType<typeof tinyRecipe>) => readModelConfig(buildModel(r).metadata, 'recipe')!;

describe('cascade pipeline', () => {
  it('trains an 8 px base and an 8->16 px super-resolution stage a few steps each: both losses fall', async () => {
    const dir = tmp();
    const common = { data: 'synthetic:64', steps: 25, batch: 8, lr: 3e-3, threads: 2, seed: 1, warmup: 0 };
    for (const [name, recipe] of [['base', tinyRecipe(8)], ['sr', tinyRecipe(16, SR)]] as const) {
      const r = await train({ ...common, recipe, out: join(dir, name) });
      assert.ok(mean(r.losses.slice(-8)) < mean(r.losses.slice(0, 4)), `${name}: loss did not fall: ${r.losses.slice(0, 4)} -> ${r.losses.slice(-8)}`);
    }
  });

  it('samples a two-stage cascade: images come out at the last stage size, finite, deterministic per seed', async () => {
    const dir = tmp();
    writeModel(join(dir, 'base/model.onnx'), tinyRecipe(8));
    writeModel(join(dir, 'sr/model.onnx'), tinyRecipe(16, SR));
    const file = join(dir, 'cascade.json');
    writeFileSync(file, serializeCascade({ stages: [{ model: 'base/model.onnx', sampler: 'ddim', steps: 4 }, { model: 'sr/model.onnx', sampler: 'ddim', steps: 4, augLevel: 10 }] }));
    const cascade = await loadCascade(file, { threads: 2 });
    try {
      const stages: number[] = [];
      const a = await cascade.sample(3, { seed: 7, onStageStep: (s) => { if (s.step === 0) stages.push(s.stage); } });
      assert.deepEqual([a.n, a.c, a.h, a.w], [3, 1, 16, 16]);
      assert.equal(a.images.length, 3 * 16 * 16);
      assert.equal(a.rgba.length, 3);
      assert.ok(a.images.every(Number.isFinite));
      assert.deepEqual(stages, [0, 1]);
      const b = await cascade.sample(3, { seed: 7 });
      assert.deepEqual(b.images, a.images);
      const c = await cascade.sample(3, { seed: 8 });
      assert.notDeepEqual(c.images, a.images);
    } finally {
      await cascade.release();
    }
  });

  it('cascade files round-trip through parse and serialize', () => {
    const spec: CascadeSpec = { stages: [{ model: 'base/model.onnx', sampler: 'ddim', steps: 50 }, { model: 'sr/model.onnx', sampler: 'dpm++2m', steps: 20, augLevel: 100, eta: 0 }] };
    const text = serializeCascade(spec);
    assert.deepEqual(parseCascade(JSON.parse(text)), spec);
    assert.equal(serializeCascade(parseCascade(JSON.parse(text))), text);
  });

  it('bad cascade files give one-line errors naming the file and stage', () => {
    assert.throws(() => parseCascade({ stages: [] }, 'cascade.json'), /^ConfigError: cascade\.json: stages: expected a non-empty array of stages$/);
    assert.throws(() => parseCascade({}, 'cascade.json'), /cascade\.json: stages: expected a non-empty array/);
    assert.throws(() => parseCascade({ stages: [{ sampler: 'ddim' }] }, 'cascade.json'), /cascade\.json: stages\[0\]\.model: expected a model path/);
    assert.throws(() => parseCascade({ stages: [{ model: 'a.onnx', sampler: 'lms' }] }, 'c.json'), /c\.json: stages\[0\]\.sampler: expected one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun/);
    assert.throws(() => parseCascade({ stages: [{ model: 'a.onnx' }, { model: 'b.onnx', steps: 0 }] }, 'c.json'), /c\.json: stages\[1\]\.steps: expected an integer >= 1/);
    assert.throws(() => parseCascade({ stages: [{ model: 'a.onnx', augLevel: 5 }] }, 'c.json'), /stages\[0\]\.augLevel: the first stage has no condition/);
    assert.throws(() => parseCascade({ stages: [{ model: 'a.onnx', steps: 5, stepz: 1 }] }, 'c.json'), /c\.json: stages\[0\]\.stepz: unknown key/);
    const spec = parseCascade({ stages: [{ model: 'base.onnx' }, { model: 'sr.onnx' }] });
    // Wrong conditioning size: the SR stage upsamples 8 px images, the base makes 16 px ones.
    assert.throws(() => checkCascadeModels(spec, [configOf(tinyRecipe(16)), configOf(tinyRecipe(16, SR))], 'cascade.json'),
      /^DiffusionError: cascade\.json: stages\[1\]: expects a 8x8 input, stage 0 makes 16x16$/);
    assert.throws(() => checkCascadeModels(spec, [configOf(tinyRecipe(16, SR)), configOf(tinyRecipe(16, SR))], 'cascade.json'), /cascade\.json: stages\[0\]: the first stage must be unconditional/);
    assert.throws(() => checkCascadeModels(spec, [configOf(tinyRecipe(8)), configOf(tinyRecipe(16))], 'cascade.json'), /cascade\.json: stages\[1\]: sr\.onnx is not a super-resolution model/);
    const rgb = configOf(tinyRecipe(8));
    rgb.image = { ...rgb.image, channels: 3 };
    assert.throws(() => checkCascadeModels(spec, [rgb, configOf(tinyRecipe(16, SR))], 'cascade.json'), /stages\[1\]: expects a 1-channel input, stage 0 makes 3 channels/);
  });

  it('a cascade file naming a missing model fails with the model path', async () => {
    const dir = tmp();
    const file = join(dir, 'cascade.json');
    writeFileSync(file, JSON.stringify({ stages: [{ model: 'nope/model.onnx' }] }));
    await assert.rejects(loadCascade(file), /nope\/model\.onnx: no such file/);
    writeFileSync(file, '{ "stages": [');
    await assert.rejects(loadCascade(file), /cascade\.json: invalid JSON/);
  });

  it('a stage may name a scheduler added with registerScheduler: loading checks the name against the registry', async () => {
    const file = join(tmp(), 'cascade.json');
    writeFileSync(file, JSON.stringify({ stages: [{ model: 'nope/model.onnx', sampler: 'ddim-twice' }] }));
    const unknown = new RegExp('^ConfigError: .*cascade\\.json: stages\\[0\\]\\.sampler: '
      + 'expected one of ddpm\\|ddim\\|dpm\\+\\+2m\\|dpm\\+\\+2m-sde\\|euler\\|heun(\\|[^|,]+)*, got "ddim-twice"$');
    await assert.rejects(loadCascade(file), (e: Error) => unknown.test(`${e.name}: ${e.message}`) && !e.message.includes('\n'));
    registerScheduler('ddim-twice', { fromModel: (config, settings) => modelScheduler(config, 'ddim', settings), options: ['steps'] });
    try {
      // the name passes; loading then stops at the missing model, past the file's checks
      await assert.rejects(loadCascade(file), /nope\/model\.onnx: no such file/);
      writeFileSync(file, JSON.stringify({ stages: [{ model: 'nope/model.onnx', sampler: 'ddim-thrice' }] }));
      await assert.rejects(loadCascade(file), /stages\[0\]\.sampler: expected one of ddpm\|.*\|ddim-twice, got "ddim-thrice"$/);
      // a scheduler of other model kinds or of scheduler_config.json folders only is not a gaussian stage's
      writeFileSync(file, JSON.stringify({ stages: [{ model: 'nope/model.onnx', sampler: 'lms' }] }));
      await assert.rejects(loadCascade(file), /stages\[0\]\.sampler: expected one of .*, got "lms"$/);
    } finally {
      unregisterScheduler('ddim-twice');
    }
    // without a list, parseCascade takes the built-in names
    assert.throws(() => parseCascade({ stages: [{ model: 'a.onnx', sampler: 'ddim-twice' }] }, 'c.json'), /stages\[0\]\.sampler: expected one of/);
    assert.equal(parseCascade({ stages: [{ model: 'a.onnx', sampler: 'mine' }] }, 'c.json', ['mine']).stages[0].sampler, 'mine');
  });
});
