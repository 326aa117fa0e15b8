import * as assert from 'node:assert/strict';
import { buildModel, encodeModel, loadRecipe, pipeline as nodePipeline } from '../../src';
import { pipeline } from '../../src/web';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths';

describe('web entry: pipeline() over onnxruntime-web (WASM, run in Node)', function () {
  this.timeout(60_000);

  it('samples what the Node pipeline samples (same seed, within float rounding), and cancels with an AbortError', async () => {
    const bytes = encodeModel(buildModel(loadRecipe('unet-tiny')));
    const gen = await pipeline(bytes, { numThreads: 1 });
    const node = await nodePipeline(bytes, { threads: 1 });
    try {
      const a = await gen({ n: 2, seed: 1, steps: 3 });
      const b = await node({ n: 2, seed: 1, steps: 3 });
      for (let i = 0; i < a.images.length; i++) assert.ok(Math.abs(a.images[i] - b.images[i]) < 1e-4, `element ${i}`);
      const ctrl = new AbortController();
      ctrl.abort();
      await assert.rejects(gen({ signal: ctrl.signal }), (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
    } finally {
      await gen.release();
      await node.release();
    }
  });

  it('samples the shipped class-conditional model from its float16-stored copy (what the demo opens) as Node does, with a class and guidance', async () => {
    const bytes = readFileSync(join(repoRoot(), 'models', 'fashion-mnist-class', 'model.fp16.onnx'));
    const gen = await pipeline(bytes, { numThreads: 1 });
    const node = await nodePipeline('fashion-mnist-class.fp16', { threads: 1 });
    try {
      assert.equal(gen.model.config.conditioning.classes, 10);
      const a = await gen({ n: 2, seed: 2, steps: 3, classes: [5, 8], guidance: 2 });
      const b = await node({ n: 2, seed: 2, steps: 3, classes: [5, 8], guidance: 2 });
      let worst = 0;
      for (let i = 0; i < a.images.length; i++) worst = Math.max(worst, Math.abs(a.images[i] - b.images[i]));
      assert.ok(worst < 1e-3, `max |web - node| ${worst}`);
    } finally {
      await gen.release();
      await node.release();
    }
  });
});
