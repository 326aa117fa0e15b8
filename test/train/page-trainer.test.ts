import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDataset } from '../../src/data/open';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { train } from '../../src/train/trainer';
import { createTrainer } from '../../src/web/trainer';
import { repoRoot } from '../helpers/paths';

/**
 * The page's Trainer (src/web/trainer.ts) run here, in Node, on onnxruntime-web's WASM backend:
 * the same TrainingRun as Node's train() behind another runner, so the same seed, data and options
 * give the same losses (up to the two ORT builds' float rounding; the Chromium test checks weights).
 */
describe('the page Trainer over onnxruntime-web, run in Node', function () {
  this.timeout(120_000);
  const bytes = encodeModel(buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 }));

  it('fit without an onStep callback takes the planned steps, with the losses of Node\'s train() on the same data and seed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-page-trainer-'));
    try {
      const model = path.join(dir, 'model.onnx');
      fs.writeFileSync(model, bytes);
      const node = await train({ init: model, data: 'synthetic:8', steps: 4, batch: 4, seed: 0, threads: 1, out: path.join(dir, 'run') });
      const trainer = await createTrainer(bytes, undefined, { steps: 4, batch: 4, seed: 0, numThreads: 1 });
      const data = await openDataset('synthetic:8', { channels: 1, size: 16, seed: 0 });
      const res = await trainer.fit(data);
      await trainer.release();
      assert.equal(res.stopped, 'done');
      assert.equal(res.steps, 4);
      res.losses.forEach((l, i) => assert.ok(Math.abs(l - node.losses[i]) <= 1e-4 * Math.abs(node.losses[i]), `step ${i + 1}: ${l} in the page trainer, ${node.losses[i]} in Node`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
