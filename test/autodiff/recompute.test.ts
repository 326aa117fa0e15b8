import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blockOfNode } from '../../src/autodiff/grad';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { buildModel, loadRecipe } from '../../src/nn';
import { readModelConfig } from '../../src/core/model-config';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { setupModel } from '../../src/train/setup';
import { buildStepGraph } from '../../src/train/step-graph';
import { estimateStepMemory } from '../../src/train/step-memory';
import type { Model } from '../../src/onnx/ir';
import type { ModelConfig } from '../../src/core/model-config';
import { fixture, repoRoot } from '../helpers/paths';
import { randTensor } from '../helpers/ort';

async function gradients(model: Model, config: ModelConfig, batch: number, feeds: Record<string, Tensor>, recompute: boolean) {
  const step = buildStepGraph(model, config, { optimizer: 'none', batch, recompute });
  const memory = estimateStepMemory(step.model.graph, batch, Object.keys(feeds));
  const s = await NodeSession.create(step.model, { threads: 2 });
  try {
    return { res: await s.run(feeds), memory: memory.bytes, nodes: step.model.graph.nodes };
  } finally {
    await s.release();
  }
}

async function checkSame(model: Model, config: ModelConfig, batch: number, feeds: Record<string, Tensor>): Promise<{ plain: number; recompute: number }> {
  const a = await gradients(model, config, batch, feeds, false);
  const b = await gradients(model, config, batch, feeds, true);
  assert.ok(b.nodes.some((n) => n.name.startsWith('recompute/')), 'blocks were recomputed');
  assert.deepEqual(Object.keys(b.res).sort(), Object.keys(a.res).sort());
  // Gradients that are zero in exact arithmetic (a conv bias before GroupNorm) are rounding noise
  // of ~1e-9: errors are measured against the largest gradient of the model.
  const scale = Object.values(a.res).reduce((m, t) => (t.data as Float32Array).reduce((mm, v) => Math.max(mm, Math.abs(v)), m), 0);
  for (const [name, t] of Object.entries(a.res)) {
    const x = t.data as Float32Array;
    const y = b.res[name].data as Float32Array;
    const err = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
    // The same ops on the same values; ORT fuses the two graphs differently, so float32 sums may
    // round differently: 1e-5 of the largest gradient (torch's own float32 is ~1e-6 off float64 here).
    assert.ok(err <= 1e-5 * scale, `${name}: ${err} (scale ${scale})`);
  }
  return { plain: a.memory, recompute: b.memory };
}

describe('autodiff: recompute (gradient checkpointing) of block activations', function () {
  this.timeout(120_000);

  it('finds blocks by name: ours (down.1.res.0, mid.attn) and diffusers\' (/down_blocks.0/resnets.0)', () => {
    const at = (name: string) => blockOfNode({ name, opType: 'Conv', domain: '', inputs: [], outputs: [], attrs: {} });
    assert.equal(at('down.1.res.0.conv1/Conv'), 'down.1.res.0');
    assert.equal(at('mid.attn/Softmax'), 'mid.attn');
    assert.equal(at('mid.res.1.norm2/Mul'), 'mid.res.1');
    assert.equal(at('/down_blocks.0/resnets.0/conv1/Conv'), 'down_blocks.0/resnets.0');
    assert.equal(at('/up_blocks.1/attentions.2/transformer_blocks.0/attn2/to_k/MatMul'), 'up_blocks.1/attentions.2');
    assert.equal(at('/conv_in/Conv'), undefined);
    assert.equal(at('temb/Cast'), undefined);
  });

  it('gives the gradients of no recompute on the tiny-sd export, and the memory estimate shows the saving', async () => {
    const dir = fixture('tiny-sd');
    const config = { image: { channels: 4, size: 16 }, diffusion: { timesteps: 1000, schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012, prediction: 'eps' }, inputs: { encoder_hidden_states: 'float32 [N,77,32]' } };
    const setup = setupModel({ init: join(dir, 'unet', 'model.onnx'), config, batch: 2 });
    const emb = decodeNpy(readFileSync(join(dir, 'reference', 'encoder_hidden_states.npy')));
    const m = await checkSame(setup.trainModel, setup.config, 2, {
      x0: randTensor([2, 4, 16, 16], 1), noise: randTensor([2, 4, 16, 16], 2), t: Tensor.int64([2], [10, 700]),
      encoder_hidden_states: new Tensor('float32', emb.shape, npyToFloat32(emb)),
    });
    assert.ok(m.recompute < 0.6 * m.plain, `estimate ${m.recompute} vs ${m.plain} bytes`);
  });

  it('gives the gradients of no recompute on one of our UNets (unet-tiny, with attention)', async () => {
    const model = buildModel(loadRecipe(join(repoRoot(), 'graphs', 'unet-tiny.json')), { seed: 3 });
    const config = readModelConfig(model.metadata, 'unet-tiny')!;
    const { channels: c, size: s } = config.image;
    const m = await checkSame(model, config, 2, { x0: randTensor([2, c, s, s], 4), noise: randTensor([2, c, s, s], 5), t: Tensor.int64([2], [3, 40]) });
    assert.ok(m.recompute < m.plain, `estimate ${m.recompute} vs ${m.plain} bytes`);
  });
});
