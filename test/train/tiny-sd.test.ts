import * as assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffusionConfigFromScheduler } from '../../src/core/diffusers-config';
import { decodeNpy, encodeNpy, npyToFloat32 } from '../../src/data/npy';
import { decodeModel } from '../../src/onnx/proto';
import { train } from '../../src/train/trainer';
import { fixture } from '../helpers/paths';
import { writeTinySdManifest } from '../helpers/tiny-sd';
import { tempDir } from '../runtime/fakes';
import { cli } from '../helpers/cli';

const DIR = fixture('tiny-sd');
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const ref = (name: string) => npyToFloat32(decodeNpy(readFileSync(join(DIR, 'reference', `${name}.npy`))));

describe('the tiny-sd UNet as exported (diffusers UNet2DConditionModel, external data, float32 timestep)', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => {
    tmp = tempDir('tiny-sd');
    writeTinySdManifest(tmp);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('a full fine-tune on a manifest of latents and tokens lowers the loss; model.onnx keeps the export\'s inputs', async () => {
    const scheduler = JSON.parse(readFileSync(join(DIR, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const config = {
      image: { channels: 4, size: 16 },
      diffusion: diffusionConfigFromScheduler(scheduler, 'scheduler_config.json'),
      inputs: { encoder_hidden_states: 'float32 [N,77,32]' },
    };
    const out = join(tmp, 'run');
    const r = await train({ init: join(DIR, 'unet', 'model.onnx'), config, data: `manifest:${tmp}`, steps: 8, batch: 2, overfitBatch: 2, lr: 2e-3, threads: 2, out, warmup: 0, sampleEvery: 0, tRange: [400, 600] });
    assert.ok(mean(r.losses.slice(-2)) < mean(r.losses.slice(0, 2)), `loss did not fall: ${r.losses}`);
    const m = decodeModel(readFileSync(join(out, 'model.onnx')), 'out');
    assert.deepEqual(m.graph.inputs.map((i) => `${i.name} ${i.dtype} [${i.shape}]`), [
      'sample float32 [batch,channels,height,width]', 'timestep float32 [batch]', 'encoder_hidden_states float32 [batch,sequence,32]',
    ]);
    assert.equal(m.graph.outputs[0].name, 'out_sample');
  });

  it('resume continues bit-for-bit: the checkpoint (the export with our metadata) is prepared again at the saved batch', async () => {
    const config = { image: { channels: 4, size: 16 }, diffusion: { timesteps: 1000, schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012, prediction: 'eps' }, inputs: { encoder_hidden_states: 'float32 [N,77,32]' } };
    const base = { init: join(DIR, 'unet', 'model.onnx'), config, data: `manifest:${tmp}`, batch: 2, threads: 2, warmup: 0, sampleEvery: 0, lrDecay: 'constant' as const };
    const whole = await train({ ...base, steps: 2, out: join(tmp, 'whole') });
    await train({ ...base, steps: 1, out: join(tmp, 'part') });
    const resumed = await train({ resume: join(tmp, 'part'), steps: 2, threads: 2 });
    assert.deepEqual(resumed.losses, whole.losses);
  });

  it('CLI: train --init with --recompute (gradient checkpointing) runs the export as exported', () => {
    const cfg = join(tmp, 'unet.json');
    const diffusion = { timesteps: 1000, schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012, prediction: 'eps' };
    writeFileSync(cfg, JSON.stringify({ image: { channels: 4, size: 16 }, diffusion, inputs: { encoder_hidden_states: 'float32 [N,77,32]' } }));
    const out = join(tmp, 'cli-run');
    const r = cli('train', '--init', join(DIR, 'unet', 'model.onnx'), '--config', cfg, '--data', `manifest:${tmp}`, '--steps', '2', '--batch', '2',
      '--recompute', '--sample-every', '0', '--threads', '2', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const saved = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { options: { recompute?: boolean }; losses: number[] };
    assert.equal(saved.options.recompute, true);
    assert.equal(saved.losses.length, 2);
  });
});
