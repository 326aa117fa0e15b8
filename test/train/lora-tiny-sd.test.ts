import * as assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffusionConfigFromScheduler } from '../../src/core/diffusers-config';
import { Rng } from '../../src/core/rng';
import { decodeNpy, encodeNpy, npyToFloat32 } from '../../src/data/npy';
import { mergeLora } from '../../src/nn/lora';
import { decodeSafetensors } from '../../src/onnx/safetensors';
import { decodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { train } from '../../src/train/trainer';
import { fixture } from '../helpers/paths';
import { writeTinySdManifest } from '../helpers/tiny-sd';
import { tempDir } from '../runtime/fakes';

const DIR = fixture('tiny-sd');
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const ref = (name: string) => npyToFloat32(decodeNpy(readFileSync(join(DIR, 'reference', `${name}.npy`))));
const BLOCK = 'down_blocks.0.attentions.0.transformer_blocks.0';

describe('LoRA on the tiny-sd UNet as exported (diffusers attention projections, peft keys)', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => {
    tmp = tempDir('lora-tiny-sd');
    writeTinySdManifest(tmp);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('rank 4 on to_q/to_k/to_v/to_out.0 lowers the loss; the adapter file has diffusers module names; merged equals in-graph', async () => {
    const scheduler = JSON.parse(readFileSync(join(DIR, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const config = { image: { channels: 4, size: 16 }, diffusion: diffusionConfigFromScheduler(scheduler, 'scheduler_config.json'), inputs: { encoder_hidden_states: 'float32 [N,77,32]' } };
    const out = join(tmp, 'run');
    const r = await train({
      init: join(DIR, 'unet', 'model.onnx'), config, data: `manifest:${tmp}`, lora: { rank: 4 }, steps: 12, batch: 2, overfitBatch: 2, lr: 1e-2,
      threads: 2, out, warmup: 0, emaDecay: 0, sampleEvery: 0, tRange: [400, 600],
    });
    assert.ok(mean(r.losses.slice(-3)) < mean(r.losses.slice(0, 3)), `loss did not fall: ${r.losses}`);
    const names = [...decodeSafetensors(readFileSync(join(out, 'adapter.safetensors'))).tensors.keys()];
    // 6 transformer blocks (down 2, mid 1, up 3) x 2 attentions x (to_q, to_k, to_v, to_out.0) x (A, B).
    assert.equal(names.length, 6 * 2 * 4 * 2);
    for (const m of ['attn1.to_q', 'attn1.to_out.0', 'attn2.to_k', 'attn2.to_v']) {
      assert.ok(names.includes(`unet.${BLOCK}.${m}.lora_A.weight`) && names.includes(`unet.${BLOCK}.${m}.lora_B.weight`), m);
    }
    const trained = decodeModel(readFileSync(join(out, 'model.onnx')), 'model.onnx');
    assert.deepEqual(trained.graph.inputs.map((i) => i.name), ['sample', 'timestep', 'encoder_hidden_states']);
    const rng = new Rng(1);
    const f = { sample: Tensor.float32([1, 4, 16, 16], rng.normalArray(1024)), timestep: Tensor.float32([1], [500]), encoder_hidden_states: Tensor.float32([1, 77, 32], ref('text_embeddings_cond')) };
    const run = async (m: typeof trained) => {
      const s = await NodeSession.create(m);
      try {
        return (await s.run(f, ['out_sample'])).out_sample.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    const a = await run(trained);
    const b = await run(mergeLora(trained));
    const d = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(d < 1e-5, `merged vs in-graph adapters: ${d}`);
  });
});
