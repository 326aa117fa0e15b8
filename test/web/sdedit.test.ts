import * as assert from 'node:assert/strict';
import { buildModel, encodeModel, loadRecipe, pipeline as nodePipeline } from '../../src';
import { pipeline } from '../../src/web';

describe('web entry: SDEdit (image + strength) through pipeline() on onnxruntime-web (WASM, run in Node)', function () {
  this.timeout(60_000);

  for (const recipe of ['unet-tiny', 'unet-toy', 'unet-cold-blur']) {
    it(`${recipe}: strength 0 returns the input, 1 the plain sample, 0.5 what the Node pipeline gives (within float rounding)`, async () => {
      const r = loadRecipe(recipe);
      const bytes = encodeModel(buildModel({ ...r, unet: { ...r.unet, base: 8, attention: [] } }));
      const size = r.image.size;
      const image = Float32Array.from({ length: size * size }, (_, i) => Math.sin(i / 5) * 0.9);
      const gen = await pipeline(bytes, { numThreads: 1 });
      const node = await nodePipeline(bytes, { threads: 1 });
      try {
        // a cold-blur model restores all T levels: its scheduler refuses `steps` by name
        const steps = recipe === 'unet-cold-blur' ? {} : { steps: 4 };
        assert.deepEqual((await gen({ n: 1, seed: 2, ...steps, image, strength: 0 })).images, image);
        const plain = await gen({ n: 1, seed: 2, ...steps });
        assert.deepEqual((await gen({ n: 1, seed: 2, ...steps, image, strength: 1 })).images, plain.images);
        const a = await gen({ n: 1, seed: 2, ...steps, image, strength: 0.5 });
        const b = await node({ n: 1, seed: 2, ...steps, image, strength: 0.5 });
        assert.notDeepEqual(a.images, plain.images);
        const diff = a.images.reduce((m, v, i) => Math.max(m, Math.abs(v - b.images[i])), 0);
        // WASM and native kernels differ by ~1e-6 per call; cold-blur's 25 restore steps (x - D(x0, s) + D(x0, s - 1))
        // carry that difference forward instead of re-deriving x from fresh noise, measured at 4e-4.
        assert.ok(diff < (recipe === 'unet-cold-blur' ? 2e-3 : 1e-4), `max |web - node| ${diff}`);
      } finally {
        await gen.release();
        await node.release();
      }
    });
  }
});
