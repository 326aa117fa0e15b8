import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from '../../src';
import { readModelConfig } from '../../src/core/model-config';
import { readMetadata } from '../../src/onnx/metadata';
import { runCli } from '../helpers/cli';
import { repoRoot } from '../helpers/paths';
import * as os from 'node:os';

describe("shipped models carry their card's recommended sampling, and pipeline() uses it unless told otherwise", function () {
  this.timeout(60_000);

  it('model.onnx and model.fp16.onnx of both diffusion models hold sampler, steps (and guidance for the class model)', () => {
    const want: Record<string, object> = {
      'fashion-mnist': { sampler: 'ddim', steps: 50 },
      'fashion-mnist-class': { sampler: 'dpm++2m', steps: 20, guidance: 2 },
    };
    for (const [name, sampling] of Object.entries(want)) {
      for (const file of ['model.onnx', 'model.fp16.onnx']) {
        const p = path.join(repoRoot(), 'models', name, file);
        assert.deepEqual(readModelConfig(readMetadata(fs.readFileSync(p), p), p)?.sampling, sampling, p);
      }
    }
  });

  it('fashion-mnist-class samples with DPM-Solver++ 20 steps at guidance 2 by default; explicit options win', async () => {
    const gen = await pipeline('fashion-mnist-class', { threads: 1 });
    try {
      let calls = 0;
      const byDefault = await gen({ n: 2, seed: 3, classes: [1, 7], onStep: () => { calls++; } });
      const explicit = await gen({ n: 2, seed: 3, classes: [1, 7], sampler: 'dpm++2m', steps: 20, guidance: 2 });
      const unguided = await gen({ n: 2, seed: 3, classes: [1, 7], guidance: 1 });
      assert.equal(calls, 20);
      assert.deepEqual(byDefault.images, explicit.images);
      assert.notDeepEqual(unguided.images, byDefault.images);
      // another sampler keeps its own default steps, not the recommended sampler's
      let ddim = 0;
      await gen({ n: 1, sampler: 'ddim', onStep: () => { ddim++; } });
      assert.equal(ddim, 50);
    } finally {
      await gen.release();
    }
  });

  it('`sample` uses them too: the default flags write the PNG that --sampler dpm++2m --steps 20 --guidance 2 writes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-recommended-'));
    try {
      const base = ['sample', '--model', 'fashion-mnist-class', '--n', '2', '--class', '7', '--seed', '4', '--threads', '1'];
      const [a, b] = await Promise.all([
        runCli([...base, '--out', path.join(dir, 'a.png')]),
        runCli([...base, '--sampler', 'dpm++2m', '--steps', '20', '--guidance', '2', '--out', path.join(dir, 'b.png')]),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.deepEqual(fs.readFileSync(path.join(dir, 'a.png')), fs.readFileSync(path.join(dir, 'b.png')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
