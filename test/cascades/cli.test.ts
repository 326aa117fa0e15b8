import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { serializeCascade } from '../../src/core/cascade-files';
import { createSampler } from '../../src/diffusion/sampler';
import { createEvaluator, evaluate } from '../../src/eval/evaluate';
import { loadCascade, loadEnsemble } from '../../src/runtime/cascades';
import { tinyRecipe, tmp, writeModel } from './helpers';
import { cli } from '../helpers/cli';

describe('CLI: sample --pipeline / --ensemble, train-experts', () => {
  let dir: string;
  before(() => {
    dir = tmp();
    writeModel(join(dir, 'base/model.onnx'), tinyRecipe(8));
    writeModel(join(dir, 'sr/model.onnx'), tinyRecipe(16, { condChannels: 1, lowResSize: 8, augment: true }));
    writeFileSync(join(dir, 'cascade.json'), serializeCascade({ stages: [{ model: 'base/model.onnx', steps: 3 }, { model: 'sr/model.onnx', steps: 3, augLevel: 5 }] }));
  });

  it('sample --pipeline writes a grid of last-stage images', async () => {
    const out = join(dir, 'cascade.png');
    const r = cli('sample', '--pipeline', join(dir, 'cascade.json'), '--n', '4', '--border', '0', '--threads', '2', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sampled 4 images/);
    const m = await sharp(out).metadata();
    assert.deepEqual([m.width, m.height], [32, 32]);
  });

  it('sample --pipeline rejects per-model flags and a wrong chain with one line', () => {
    const a = cli('sample', '--pipeline', join(dir, 'cascade.json'), '--steps', '5', '--out', join(dir, 'x.png'));
    assert.notEqual(a.code, 0);
    assert.match(a.stderr, /--steps does not apply to --pipeline: set it per stage in/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ stages: [{ model: 'sr/model.onnx' }, { model: 'base/model.onnx' }] }));
    const b = cli('sample', '--pipeline', join(dir, 'bad.json'), '--out', join(dir, 'x.png'));
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /bad\.json: stages\[0\]: the first stage must be unconditional/);
    assert.doesNotMatch(b.stderr, /\n\s+at /, 'printed a stack trace');
    const c = cli('sample', '--pipeline', join(dir, 'cascade.json'), '--model', join(dir, 'base/model.onnx'), '--out', join(dir, 'x.png'));
    assert.match(c.stderr, /give only one of --model, --pipeline and --ensemble/);
  });

  it('train-experts then sample --ensemble', async () => {
    const recipe = join(dir, 'tiny8.json');
    writeFileSync(recipe, JSON.stringify(tinyRecipe(8)));
    const out = join(dir, 'ens');
    const t = cli('train-experts', '--recipe', recipe, '--experts', '2', '--data', 'synthetic:16', '--steps', '2', '--batch', '4', '--threads', '2', '--out', out);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /expert 1: t 50:99/);
    assert.ok(existsSync(join(out, 'experts.json')));
    const grid = join(dir, 'ens.png');
    const s = cli('sample', '--ensemble', join(out, 'experts.json'), '--n', '2', '--steps', '4', '--border', '0', '--cols', '2', '--threads', '2', '--out', grid);
    assert.equal(s.code, 0, s.stderr);
    const m = await sharp(grid).metadata();
    assert.deepEqual([m.width, m.height], [16, 8]);
    const bad = cli('train-experts', '--experts', '2', '--out', out);
    assert.match(bad.stderr, /give --recipe \(fresh experts\) or --from model\.onnx/);
  });

  it('evaluate --pipeline and --ensemble score the samples that loadCascade / loadEnsemble draw for the seed', async () => {
    const score = (...args: string[]) => {
      const r = cli('evaluate', ...args, '--n', '8', '--seed', '3', '--reference-n', '500', '--no-floor', '--threads', '2', '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { scores: { source: string; n: number; fd: number; recall: number } };
    };
    // The library route, in this process: sample with the seed, score with the same evaluator settings.
    const ev = await createEvaluator({ referenceN: 500, threads: 2, seed: 3 });
    try {
      const cascade = await loadCascade(join(dir, 'cascade.json'), { threads: 2 });
      const c = await cascade.sample(8, { seed: 3 });
      await cascade.release();
      const ens = await loadEnsemble(join(dir, 'ens', 'experts.json'), { threads: 2 });
      const e = await createSampler(ens.model, { steps: 4, seed: 3 }).sample(8);
      await ens.release();
      for (const [flag, file, extra, res] of [['--pipeline', join(dir, 'cascade.json'), [], c], ['--ensemble', join(dir, 'ens', 'experts.json'), ['--steps', '4'], e]] as const) {
        const direct = score(flag, file, ...extra);
        const ref = await ev.score(res.images, 8, { source: 'library', channels: res.c, size: res.h });
        assert.equal(direct.scores.n, 8);
        assert.match(direct.scores.source, flag === '--pipeline' ? /cascade\.json \(cascade of 2\)/ : /experts\.json \(2 experts, ddim 4\)/);
        assert.ok(ref.fd > 0 && Math.abs(direct.scores.fd - ref.fd) < 1e-6 * ref.fd, `${flag}: FD ${direct.scores.fd} vs ${ref.fd} in the library`);
        assert.equal(direct.scores.recall, ref.recall);
        // The library's own options for the two files.
        const lib = await evaluate({ [flag.slice(2)]: file, n: 8, sampling: { steps: flag === '--ensemble' ? 4 : undefined, seed: 3 }, referenceN: 500, floor: false, threads: 2, seed: 3 });
        assert.ok(Math.abs(lib.scores.fd - ref.fd) < 1e-6 * ref.fd, `evaluate({ ${flag.slice(2)} }): FD ${lib.scores.fd} vs ${ref.fd}`);
      }
      // DDIM noise shows in the source label and changes the samples.
      const eta0 = score('--ensemble', join(dir, 'ens', 'experts.json'), '--steps', '4');
      const eta1 = score('--ensemble', join(dir, 'ens', 'experts.json'), '--steps', '4', '--eta', '1');
      assert.match(eta1.scores.source, /experts\.json \(2 experts, ddim 4, eta 1\)/);
      assert.notEqual(eta1.scores.fd, eta0.scores.fd);
    } finally {
      await ev.release();
    }
    const bad = cli('evaluate', '--pipeline', join(dir, 'cascade.json'), '--steps', '5');
    assert.match(bad.stderr, /--steps does not apply to --pipeline: set it per stage in/);
    const two = cli('evaluate', '--pipeline', join(dir, 'cascade.json'), '--ensemble', join(dir, 'ens', 'experts.json'));
    assert.match(two.stderr, /give one of --model, --images, --pipeline and --ensemble/);
  });
});
