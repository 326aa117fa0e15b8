import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { train } from '../../src/train/trainer';
import type { EvalPoint } from '../../src/train/eval-log';

const root = resolve(__dirname, '../..');

describe('train --eval-every', function () {
  this.timeout(180_000);
  it('scores the EMA model every N steps and at the end into train.json, and draws FD beside the loss', async () => {
    const out = mkdtempSync(join(tmpdir(), 'od-eval-'));
    try {
      const seen: EvalPoint[] = [];
      await train({
        recipe: join(root, 'graphs/unet-tiny.json'), data: 'synthetic:32', batch: 4, steps: 5, threads: 2, seed: 1, out,
        sampleEvery: 0, evalEvery: 3, evalN: 8, onEval: (e) => seen.push(e),
      });
      const log = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { evals: EvalPoint[] };
      assert.deepEqual(log.evals.map((e) => e.step), [3, 5]);
      assert.deepEqual(seen.map((e) => e.step), [3, 5]);
      for (const e of log.evals) {
        assert.equal(e.n, 8);
        assert.ok(Number.isFinite(e.fd) && e.fd > 0, `FD ${e.fd}`);
        assert.ok(e.entropy >= 0 && e.entropy <= Math.log2(10) + 1e-9);
      }
      // loss.png is two panels wide: the loss, then FD.
      const meta = await sharp(join(out, 'loss.png')).metadata();
      assert.equal(meta.width, 1600);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
