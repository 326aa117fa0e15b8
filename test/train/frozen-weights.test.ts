import * as assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diffusionConfigFromScheduler } from '../../src/core/diffusers-config';
import { isExternal } from '../../src/onnx/external-data';
import { onnx } from '../../src/onnx/onnx-proto';
import { Tensor } from '../../src/onnx/tensor';
import { readModelHeader } from '../../src/runtime/model-files';
import { loadState } from '../../src/train/checkpoint';
import { FrozenWeights, readTrainModel } from '../../src/train/frozen-weights';
import type { TrainOptions } from '../../src/train/options';
import { train } from '../../src/train/trainer';
import { TINY_SD, writeTinySdManifest } from '../helpers/tiny-sd';
import { tempDir } from '../runtime/fakes';

const DIR = TINY_SD;

/** The initializers of a model file's protobuf: which hold bytes inline, which reference a data file (and where). */
function initializersOf(file: string): { inline: Set<string>; external: Map<string, { location: string; offset: string; length: string }> } {
  const p = onnx.ModelProto.decode(readFileSync(file));
  const inline = new Set<string>();
  const external = new Map<string, { location: string; offset: string; length: string }>();
  for (const t of p.graph!.initializer ?? []) {
    if (isExternal(t)) {
      assert.equal(t.rawData?.length ?? 0, 0, `${t.name} is external yet has raw data`);
      const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      external.set(t.name!, { location: kv.location!, offset: kv.offset!, length: kv.length! });
    } else inline.add(t.name!);
  }
  return { inline, external };
}

describe('LoRA with the frozen weights left in the base model\'s external data (tiny-sd UNet)', function () {
  this.timeout(300_000);
  let tmp: string;
  let unet: string;
  let base: TrainOptions;
  before(() => {
    tmp = tempDir('frozen-weights');
    // The base beside the runs, on one file system, as the hard link needs.
    mkdirSync(join(tmp, 'unet'));
    for (const f of ['model.onnx', 'weights.pb']) copyFileSync(join(DIR, 'unet', f), join(tmp, 'unet', f));
    unet = join(tmp, 'unet', 'model.onnx');
    mkdirSync(join(tmp, 'data'));
    writeTinySdManifest(join(tmp, 'data'));
    const scheduler = JSON.parse(readFileSync(join(DIR, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const diffusion = diffusionConfigFromScheduler(scheduler, 'scheduler_config.json');
    const config = { image: { channels: 4, size: 16 }, diffusion, inputs: { encoder_hidden_states: 'float32 [N,77,32]' } };
    base = {
      init: unet, config, data: `manifest:${join(tmp, 'data')}`, lora: { rank: 4 }, steps: 4, batch: 1, lr: 1e-2, threads: 2,
      warmup: 0, emaDecay: 0.9, sampleEvery: 0, seed: 3,
    };
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('refuses frozenByReference without lora, and previews while the weights stay by reference', async () => {
    await assert.rejects(train({ ...base, lora: undefined, frozenByReference: true, out: join(tmp, 'x') }), /frozenByReference.*only with `lora`/);
    await assert.rejects(train({ ...base, frozenByReference: true, sampleEvery: 2, out: join(tmp, 'y') }), /sampleEvery.*pass 0/);
  });

  it('by default keeps frozen weights by reference only for LoRA past the threshold and without previews', () => {
    const file = join(DIR, 'unet', 'model.onnx');
    const bytes = statSync(join(DIR, 'unet', 'weights.pb')).size;
    const lora = { rank: 4 };
    assert.ok(readTrainModel(file, { lora }, bytes / 2).frozen, 'LoRA past the threshold');
    assert.equal(readTrainModel(file, { lora }, bytes * 2).frozen, undefined, 'under the threshold');
    assert.equal(readTrainModel(file, {}, 0).frozen, undefined, 'without LoRA');
    assert.equal(readTrainModel(file, { lora, sampleEvery: 5 }, 0).frozen, undefined, 'with previews');
    // Read with its weights: a real value, not a zero placeholder.
    const { model } = readTrainModel(file, { lora }, bytes * 2);
    const w = model.graph.initializers.get(readModelHeader(file).external[0].tensor)!;
    assert.ok((w.data as Float32Array).some((v) => v !== 0));
  });

  it('refuses to write a model whose frozen weight was replaced (its placeholder holds zeros, not the weight)', () => {
    const file = join(DIR, 'unet', 'model.onnx');
    const { model, external } = readModelHeader(file);
    const frozen = FrozenWeights.of(model, external, file);
    assert.equal(frozen.count, external.length);
    const name = external[0].tensor;
    const t = model.graph.initializers.get(name)!;
    model.graph.initializers.set(name, new Tensor(t.dtype, t.dims, t.data.slice()));
    const escaped = name.replace(/[.[\]]/g, '\\$&');
    const message = new RegExp(`step.onnx: the frozen weight '${escaped}' of .*model.onnx was rewritten while preparing the graph`);
    assert.throws(() => frozen.encode(model, 'step.onnx'), message);
  });

  it('trains with the same losses as the inline path, writes step graph and checkpoint by reference, and resumes exactly', async () => {
    const inline = await train({ ...base, frozenByReference: false, out: join(tmp, 'inline') });
    const refRun = join(tmp, 'ref');
    const byRef = await train({ ...base, frozenByReference: true, out: refRun });
    assert.equal(byRef.losses.length, 4);
    // ORT runs the step by reference with graph optimizations off (frozen-weights.ts), so fused
    // kernels round differently from the inline session's: agreement to float32 rounding.
    for (let i = 0; i < 4; i++) {
      const d = Math.abs(byRef.losses[i] - inline.losses[i]) / Math.abs(inline.losses[i]);
      assert.ok(d < 1e-6, `step ${i + 1}: loss ${byRef.losses[i]} by reference, ${inline.losses[i]} inline (relative ${d})`);
    }
    const a = loadState(join(tmp, 'inline')).vec.params;
    const b = loadState(refRun).vec.params;
    const dp = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    // Adam divides by sqrt(v): an element whose gradient is near zero moves by up to lr on a
    // rounding difference, so the bound is against the 4 x lr = 0.04 the adapters can travel.
    assert.ok(dp < 1e-3, `adapter values differ by ${dp}`);

    // Every weight of the base's weights.pb is a reference, same offset and length, into a hard
    // link of the base's file in the run folder; the adapters are inline.
    const baseRefs = readModelHeader(unet).external;
    assert.ok(baseRefs.length > 100);
    const link = join(refRun, 'weights.pb');
    assert.equal(statSync(link).ino, statSync(join(tmp, 'unet', 'weights.pb')).ino);
    for (const file of [join(refRun, 'model.onnx'), join(refRun, 'lora-step.onnx')]) {
      const { inline: kept, external } = initializersOf(file);
      assert.equal(external.size, baseRefs.length, file);
      for (const r of baseRefs) {
        assert.deepEqual(external.get(r.tensor), { location: 'weights.pb', offset: String(r.offset), length: String(r.length) }, `${file}: ${r.tensor}`);
      }
      // model.onnx holds the trained adapters inline; the step graph takes them in its params input.
      if (file.endsWith('model.onnx')) assert.ok([...kept].some((n) => n.includes('lora_A')), `${file}: no adapter inline`);
      // The graph alone: far below the 4.4 MB of weights it references.
      assert.ok(statSync(file).size < statSync(link).size / 2, `${file} is ${statSync(file).size} bytes`);
    }

    // Resume: 2 steps, stopped, resumed to 4, equals 4 straight bit for bit.
    const resumed = join(tmp, 'resumed');
    const ctl = new AbortController();
    await train({ ...base, frozenByReference: true, out: resumed, signal: ctl.signal, onStep: (s) => { if (s.step === 2) ctl.abort(); } });
    assert.equal(loadState(resumed).meta.step, 2);
    // The base may go: the run holds its own link.
    rmSync(join(tmp, 'unet'), { recursive: true });
    await train({ resume: resumed, threads: 2 });
    const sa = loadState(refRun);
    const sc = loadState(resumed);
    assert.equal(sc.meta.step, 4);
    for (const k of ['params', 'm', 'v', 'ema'] as const) {
      assert.deepEqual(Buffer.from(sc.vec[k].buffer), Buffer.from(sa.vec[k].buffer), `${k} differs after resume`);
    }
    assert.deepEqual(sc.meta.losses, sa.meta.losses);
    assert.equal(initializersOf(join(resumed, 'model.onnx')).external.size, baseRefs.length);
  });
});
