import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { serializeCascade } from '../../src/core/pipeline-files';
import { repoRoot } from '../helpers/paths';
import { tinyRecipe, tmp, writeModel } from './helpers';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
});
