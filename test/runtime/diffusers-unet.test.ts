import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { loadModel, modelConfigFor } from '../../src/runtime/load';
import type { DiffusionModel } from '../../src/runtime/model';
import { encodeModelToFiles, readModelFiles } from '../../src/runtime/model-files';
import type { Model, ValueInfo } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { fixture } from '../helpers/paths';
import { loadModel as loadWebModel } from '../../src/web';
import { maxAbsDiff } from '../helpers/close';

const ref = (name: string) => decodeNpy(fs.readFileSync(fixture(`tiny-sd/reference/${name}`)), name);
const f32 = (name: string) => npyToFloat32(ref(name));
const TINY = fixture('tiny-sd');
const SIZE16 = { image: { size: 16 } };
/** The tiny UNet's own schedule (SD 1.5's), for loading a bare variant file. */
const BARE = { image: { channels: 4, size: 16 }, diffusion: { schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012 } };

/** Step 0 of the reference run: batch 2 [uncond, cond], t = 751. */
async function step0(model: DiffusionModel): Promise<number> {
  const latents = f32('latents_init.npy');
  const x = new Float32Array(2 * latents.length);
  x.set(latents, 0);
  x.set(latents, latents.length);
  const out = await model.run(x, Int32Array.from([751, 751]), { inputs: { encoder_hidden_states: f32('encoder_hidden_states.npy') } });
  return maxAbsDiff(out, f32('unet_step0_out.npy'));
}

/** The training case: batch 1, t = 500, the cond text embeddings. */
async function trainCase(model: DiffusionModel): Promise<number> {
  const out = await model.run(f32('train_noisy_latents.npy'), Int32Array.from([500]), { inputs: { encoder_hidden_states: f32('text_embeddings_cond.npy') } });
  return maxAbsDiff(out, f32('train_unet_out.npy'));
}

/** Renames a graph input (and every use of it). */
function renameInput(m: Model, from: string, to: string): void {
  const v = m.graph.inputs.find((i) => i.name === from)!;
  v.name = to;
  for (const n of m.graph.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
}

/**
 * The tiny UNet with its timestep input replaced by `input` (another dtype or shape), converted to
 * the float32 [1] the graph computes with by Cast and Reshape nodes.
 */
function timestepVariant(m: Model, input: ValueInfo): Model {
  renameInput(m, 'timestep', 'timestep_f32');
  m.graph.inputs = m.graph.inputs.filter((i) => i.name !== 'timestep_f32');
  m.graph.inputs.splice(1, 0, input);
  m.graph.initializers.set('ts_shape', Tensor.int64([1], [-1]));
  m.graph.nodes.unshift(
    { name: 'ts_cast', opType: 'Cast', domain: '', inputs: [input.name], outputs: ['ts_cast_out'], attrs: { to: { type: 'int', value: 1 } } },
    { name: 'ts_reshape', opType: 'Reshape', domain: '', inputs: ['ts_cast_out', 'ts_shape'], outputs: ['timestep_f32'], attrs: {} },
  );
  return m;
}

describe('diffusers UNet exports as they are (tiny-sd)', function () {
  this.timeout(60_000);
  let dir: string;
  /** The folder loaded once (sessions of this 3,193-node graph take seconds on a busy machine). */
  let folderModel: DiffusionModel;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-unet-'));
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await folderModel?.release();
  });

  /** Writes a variant with external data (the tiny model is below the auto threshold) and loads it from another working directory. */
  async function loadVariant(m: Model, name: string, config: object): Promise<DiffusionModel> {
    fs.mkdirSync(path.join(dir, name));
    const file = path.join(dir, name, 'model.onnx');
    encodeModelToFiles(m, file, { externalData: true });
    return loadModel(file, { config, threads: 1 });
  }

  it('the pipeline folder: config from scheduler_config.json, output = the torch reference at step 0 and in the training case (1e-4)', async () => {
    const model = folderModel = await loadModel(TINY, { config: SIZE16, threads: 1 });
    {
      assert.deepEqual([model.io.sample, model.io.timestep, model.io.prediction], ['sample', 'timestep', 'out_sample']);
      assert.deepEqual(model.io.timestepFeed, { dtype: 'float32', form: 'batch' });
      const d = model.config.diffusion;
      assert.deepEqual([d.schedule, d.betaStart, d.betaEnd, d.timesteps, d.prediction, d.stepsOffset, d.timestepSpacing, d.clipSample, d.setAlphaToOne],
        ['scaled-linear', 0.00085, 0.012, 1000, 'eps', 1, 'leading', 0, false]);
      assert.deepEqual(model.config.image, { channels: 4, size: 16 });
      assert.deepEqual(model.config.conditioning.inputs, [{ name: 'encoder_hidden_states', dtype: 'float32', shape: ['N', 'sequence', 32], kind: 'tokens' }]);
      assert.ok(await step0(model) < 1e-4);
      assert.ok(await trainCase(model) < 1e-4);
    }
  });

  it('onnxruntime-web (WASM, in Node) takes weights.pb through the session options\' externalData; same output', async () => {
    const bytes = fs.readFileSync(path.join(TINY, 'unet', 'model.onnx'));
    const data = new Uint8Array(fs.readFileSync(path.join(TINY, 'unet', 'weights.pb')));
    const model = await loadWebModel(bytes, { numThreads: 1, config: BARE, sessionOptions: { graphOptimizationLevel: 'disabled', externalData: [{ path: 'weights.pb', data }] } });
    try {
      assert.ok(await step0(model) < 1e-4);
    } finally {
      await model.release();
    }
  });

  it('unet/model.onnx inside the folder reads the folder configs too; without a size, SD pipelines default to 64 latents as diffusers does', () => {
    const file = path.join(TINY, 'unet', 'model.onnx');
    const config = modelConfigFor(fs.readFileSync(file), file, file, undefined)!;
    assert.equal(config.image.size, 64);
    assert.equal(config.diffusion.stepsOffset, 1);
  });

  it('names a missing conditioning input with the shape the graph declares', async () => {
    const model = folderModel;
    {
      await assert.rejects(model.run(new Float32Array(4 * 256), Int32Array.from([10])),
        /^DiffusionError: encoder_hidden_states: missing input, expected float32 \[N,sequence,32\]; give it with --input encoder_hidden_states=FILE\.npy/);
      await assert.rejects(model.run(new Float32Array(4 * 256), Int32Array.from([10]), { inputs: { encoder_hidden_states: new Float32Array(77 * 16) } }),
        /encoder_hidden_states: expected \[N,sequence,32\] \(N = 1 from sample\), got \[1232\]/);
    }
  });

  const variants: [string, ValueInfo, RegExp | undefined][] = [
    // with the folder's float32 [N], every dtype (float32, float16, int64: older optimum exports) and shape ([N], [1], scalar)
    ['int64 [1]', { name: 'timestep', dtype: 'int64', shape: [1] }, /timestep: the graph takes one timestep for the whole batch \(\[1\]\), got different ones: 3,4/],
    ['float16 scalar', { name: 'timestep', dtype: 'float16', shape: [] }, /timestep: the graph takes one timestep for the whole batch \(a scalar\), got different ones: 3,4/],
  ];
  for (const [what, input, mixed] of variants) {
    it(`a timestep declared ${what} is fed so; the output matches the reference`, async () => {
      const m = timestepVariant(readModelFiles(path.join(TINY, 'unet', 'model.onnx')), input);
      const model = await loadVariant(m, what.replace(/\W+/g, '-'), BARE);
      try {
        const form = input.shape!.length === 0 ? 'scalar' : input.shape![0] === 1 ? 'one' : 'batch';
        assert.deepEqual(model.io.timestepFeed, { dtype: input.dtype, form });
        assert.ok(await step0(model) < 1e-4);
        if (mixed) await assert.rejects(model.run(new Float32Array(2 * 4 * 256), Int32Array.from([3, 4]), { inputs: { encoder_hidden_states: new Float32Array(2 * 77 * 32) } }), mixed);
      } finally {
        await model.release();
      }
    });
  }

  it('loadModel(folder, { lora }) merges an adapter into weights read from weights.pb: the same output as the weight merged by hand (in a copy named by "roles")', async () => {
    // to_q of the first self-attention: MatMul weight W [in 32, out 32]; peft's A [r, in], B [out, r]; W' = W + (alpha / r) (B A)^T
    const weight = 'onnx::MatMul_3661';
    const r = 2;
    const a = Float32Array.from({ length: r * 32 }, (_, i) => Math.sin(i) * 0.5);
    const b = Float32Array.from({ length: 32 * r }, (_, i) => Math.cos(i) * 0.5);
    const adapter = { spec: { rank: r, alpha: 4, targets: [{ weight, key: 'q', layout: 'in-out' as const }] },
      tensors: new Map([['q.lora_A.weight', new Tensor('float32', [r, 32], a)], ['q.lora_B.weight', new Tensor('float32', [32, r], b)]]) };
    const byHand = readModelFiles(path.join(TINY, 'unet', 'model.onnx'));
    const w = byHand.graph.initializers.get(weight)!.data as Float32Array;
    for (let i = 0; i < 32; i++) for (let o = 0; o < 32; o++) {
      let ba = 0;
      for (let k = 0; k < r; k++) ba += b[o * r + k] * a[k * 32 + i];
      w[i * 32 + o] += (4 / r) * ba;
    }
    // the hand-merged copy also takes other names, found through the config's roles
    renameInput(byHand, 'sample', 'latent');
    renameInput(byHand, 'timestep', 'ts');
    byHand.graph.outputs[0].name = 'noise_pred';
    for (const n of byHand.graph.nodes) n.outputs = n.outputs.map((o) => (o === 'out_sample' ? 'noise_pred' : o));
    const merged = await loadModel(TINY, { config: SIZE16, threads: 1, lora: adapter });
    const hand = await loadVariant(byHand, 'lora-by-hand', { ...BARE, roles: { sample: 'latent', timestep: 'ts', prediction: 'noise_pred' } });
    try {
      const x = f32('train_noisy_latents.npy');
      const inputs = { encoder_hidden_states: f32('text_embeddings_cond.npy') };
      const got = await merged.run(x, Int32Array.from([500]), { inputs });
      assert.ok(maxAbsDiff(got, await hand.run(x, Int32Array.from([500]), { inputs })) < 1e-5);
      assert.ok(maxAbsDiff(got, f32('train_unet_out.npy')) > 1e-3);
      assert.deepEqual([hand.io.sample, hand.io.timestep, hand.io.prediction], ['latent', 'ts', 'noise_pred']);
    } finally {
      await merged.release();
      await hand.release();
    }
  });
});
