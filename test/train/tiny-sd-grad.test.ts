import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffusionConfigFromScheduler } from '../../src/core/diffusers-config';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { setupModel } from '../../src/train/setup';
import { buildStepGraph } from '../../src/train/step-graph';
import { fixture } from '../helpers/paths';

// The gradient graph of the tiny-sd UNet as exported against torch autograd on the same UNet
// (tools/tiny-sd-grads.py: the real diffusers class rebuilt as the fixture was made; float64 and
// float32 gradients of F.mse_loss(unet(x_t, 500, emb), noise)).
const DIR = fixture('tiny-sd');
const GRADS = fixture('tiny-sd-grads');
const npy = (file: string) => {
  const a = decodeNpy(readFileSync(file));
  return { dims: a.shape, data: npyToFloat32(a) };
};
const ref = (name: string) => npy(join(DIR, 'reference', `${name}.npy`));

/** Torch's [out, in] Linear weight as the export's MatMul reads it: [in, out]. */
function transpose2d(a: { dims: number[]; data: Float32Array }): Float32Array {
  const [r, c] = a.dims;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a.data[i * c + j];
  return out;
}

describe('the tiny-sd UNet gradient graph against torch autograd', function () {
  this.timeout(120_000);

  it('matches torch float64 to 1e-4 max-normalised for convolutions, attention projections and the time embedding', async () => {
    const scheduler = JSON.parse(readFileSync(join(DIR, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const config = { image: { channels: 4, size: 16 }, diffusion: diffusionConfigFromScheduler(scheduler, 'scheduler'), inputs: { encoder_hidden_states: 'float32 [N,77,32]' } };
    const setup = setupModel({ init: join(DIR, 'unet', 'model.onnx'), config, batch: 1 });
    const step = buildStepGraph(setup.trainModel, setup.config, { optimizer: 'none', batch: 1 });
    // Torch name -> the export's initializer (Linear weights become transposed MatMul constants).
    const matmulWeight = (node: string) => setup.trainModel.graph.nodes.find((n) => n.name === node)!.inputs[1];
    const targets: [string, string, boolean][] = [
      ['conv_in.weight', 'conv_in.weight', false],
      ['conv_out.weight', 'conv_out.weight', false],
      ['conv_out.bias', 'conv_out.bias', false],
      ['time_embedding.linear_1.bias', 'time_embedding.linear_1.bias', false],
      ['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight', matmulWeight('/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul'), true],
      ['up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.weight', matmulWeight('/up_blocks.1/attentions.2/transformer_blocks.0/attn2/to_k/MatMul'), true],
    ];
    const session = await NodeSession.create(step.model, { threads: 2 });
    const t = (name: string) => new Tensor('float32', ref(name).dims, ref(name).data);
    const res = await session.run({
      x0: t('train_latents'), noise: t('train_noise'), t: Tensor.int64([1], [500]), encoder_hidden_states: t('text_embeddings_cond'),
    }, ['loss', ...targets.map(([, onnx]) => `grad/${onnx}`)]);
    await session.release();
    const loss = (res.loss.data as Float32Array)[0];
    assert.ok(Math.abs(loss - ref('train_loss').data[0]) < 1e-5, `loss ${loss} vs torch ${ref('train_loss').data[0]}`);
    const summary = JSON.parse(readFileSync(join(GRADS, 'grads.json'), 'utf8')) as { grads: Record<string, { float32_vs_float64_max_normalised: number }> };
    for (const [torchName, onnxName, transposed] of targets) {
      const g64 = npy(join(GRADS, `${torchName}.f64.npy`));
      const want = transposed ? transpose2d(g64) : g64.data;
      const got = res[`grad/${onnxName}`].data as Float32Array;
      assert.equal(got.length, want.length, torchName);
      let scale = 0;
      let err = 0;
      want.forEach((w, i) => {
        scale = Math.max(scale, Math.abs(w));
        err = Math.max(err, Math.abs(got[i] - w));
      });
      const rel = err / scale;
      // Beside it, torch's own float32 against float64 (grads.json): the floor float32 can reach.
      assert.ok(rel < 1e-4, `${torchName}: ${rel.toExponential(2)} max-normalised (torch float32 vs float64: ${summary.grads[torchName].float32_vs_float64_max_normalised.toExponential(2)})`);
    }
  });
});
