import { strict as assert } from 'node:assert';
import * as ort from 'onnxruntime-node';
import { buildModel, validateRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { DiffusionModel } from '../../src/runtime/model';

describe('DiffusionModel.run', () => {
  it('names wrong-shaped conditioning before ONNX Runtime sees it', async () => {
    const recipe = validateRecipe({
      image: { channels: 1, size: 16 }, unet: { base: 8, mults: [1, 1], resBlocks: 1, attention: [], heads: 1, groups: 4 },
      conditioning: { classes: 3, condChannels: 1 }, diffusion: { timesteps: 100 },
    }, 'test');
    const model = await DiffusionModel.create(ort, encodeModel(buildModel(recipe)), { source: 'm' });
    const x = new Float32Array(2 * 256);
    const t = Int32Array.from([1, 2]);
    const ok = await model.run(x, t, { class: Int32Array.from([0, 3]), cond: new Float32Array(2 * 256) });
    assert.equal(ok.length, 512);
    await assert.rejects(model.run(x, t, { class: Int32Array.from([0, 1]), cond: new Float32Array(2 * 14 * 14) }),
      /^DiffusionError: cond: expected \[N,1,16,16\] \(N = 2 from x\), got \[392\]$/);
    await assert.rejects(model.run(x, t, { class: Int32Array.from([0, 1]), cond: new Float32Array(2 * 2 * 256) }),
      /cond: expected \[N,1,16,16\] \(N = 2 from x\), got \[2,2,16,16\]/);
    await assert.rejects(model.run(x, t, { class: Int32Array.from([0, 4]), cond: new Float32Array(512) }), /class: id 4 out of range \[0, 3\]/);
    await assert.rejects(model.run(x, t, { cond: new Float32Array(512) }), /class: missing input, expected int64 \[N\]/);
    await assert.rejects(model.run(x, t, { class: Int32Array.from([0, 1]), cond: new Float32Array(512), labels: new Float32Array(2) }), /labels: not an input of this model/);
    await model.release();
  });
});
