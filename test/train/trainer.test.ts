import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createSampler } from '../../src/diffusion/sampler';
import { decodeModel } from '../../src/onnx/proto';
import { DiffusionModel } from '../../src/runtime/model';
import { loadState } from '../../src/train/checkpoint';
import { flattenParams, trainableLayout } from '../../src/train/params';
import { train } from '../../src/train/trainer';
import { buildModel, loadRecipe } from '../../src/nn';
import { readModelConfig } from '../../src/core/model-config';
import { buildStepGraph } from '../../src/train/step-graph';

const root = resolve(__dirname, '../..');
const tiny = join(root, 'graphs/unet-tiny.json');
const fixture = join(root, 'test/fixtures/torch-unet-16px.onnx');
const fixtureJson = join(root, 'test/fixtures/torch-unet-16px.json');
const tmp = () => mkdtempSync(join(tmpdir(), 'od-train-'));
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const base = { recipe: tiny, data: 'synthetic:64', batch: 8, lr: 2e-3, threads: 2, seed: 5 } as const;

describe('train', () => {
  it('30 steps of unet-tiny on synthetic data: loss falls, model.onnx samples, state is complete', async () => {
    const out = tmp();
    const r = await train({ ...base, steps: 30, out });
    assert.equal(r.steps, 30);
    assert.ok(mean(r.losses.slice(-10)) < mean(r.losses.slice(0, 5)), `loss did not fall: ${r.losses.slice(0, 5)} -> ${r.losses.slice(-10)}`);
    for (const f of ['model.onnx', 'train.json', 'loss.png', 'state/params.f32', 'state/m.f32', 'state/v.f32', 'state/ema.f32', 'state/state.json']) {
      assert.ok(existsSync(join(out, f)), `${f} missing`);
    }
    const bytes = readFileSync(join(out, 'model.onnx'));
    const model = await DiffusionModel.create(ort, bytes, { source: 'model.onnx' });
    assert.equal(model.config.training?.step, 30);
    const res = await createSampler(model, { sampler: 'ddim', steps: 5 }).sample(2);
    assert.equal(res.images.length, 2 * 16 * 16);
    assert.ok(res.images.every(Number.isFinite));
  });

  it('resume is exact: 10 steps straight equal 5 steps + resume 5 steps, bit for bit', async () => {
    const a = tmp();
    await train({ ...base, steps: 10, out: a });
    // The learning-rate schedule depends on the planned length, so plan the second run for 10
    // steps too and stop it after step 5 (as Ctrl-C does), then resume.
    const c = tmp();
    const ctl = new AbortController();
    await train({ ...base, steps: 10, out: c, signal: ctl.signal, onStep: (s) => { if (s.step === 5) ctl.abort(); } });
    assert.equal(loadState(c).meta.step, 5);
    await train({ resume: c, threads: 2 });
    const sa = loadState(a);
    const sc = loadState(c);
    assert.equal(sc.meta.step, 10);
    for (const k of ['params', 'm', 'v', 'ema'] as const) {
      assert.deepEqual(Buffer.from(sc.vec[k].buffer), Buffer.from(sa.vec[k].buffer), `${k} differs after resume`);
    }
    assert.deepEqual(sc.meta.losses, sa.meta.losses);
  });

  it('the EMA does not feed back: a run without it (the cosine default) saves the weights an EMA run trains', async () => {
    const withEma = tmp();
    await train({ ...base, steps: 6, emaDecay: 0.999, out: withEma });
    const plain = tmp();
    await train({ ...base, steps: 6, out: plain });
    const a = loadState(withEma).vec;
    const b = loadState(plain).vec;
    assert.deepEqual(Buffer.from(b.params.buffer), Buffer.from(a.params.buffer), 'the EMA changed the training trajectory');
    assert.deepEqual(Buffer.from(b.ema.buffer), Buffer.from(b.params.buffer), 'without EMA the saved weights are the final ones');
    assert.ok(a.ema.some((v, i) => v !== a.params[i]), 'the EMA run keeps an average apart from its weights');
    const saved = decodeModel(readFileSync(join(plain, 'model.onnx')));
    const layout = trainableLayout(saved.graph);
    assert.deepEqual(Buffer.from(flattenParams(saved.graph, layout).buffer), Buffer.from(a.params.buffer));
  });

  it('a NaN loss (huge learning rate) stops the run and keeps the previous checkpoint intact', async () => {
    const out = tmp();
    let failedAt = 0;
    await assert.rejects(
      train({ ...base, steps: 30, lr: 1e12, warmup: 0, lrDecay: 'constant', saveEvery: 1, out }).catch((e: Error) => {
        failedAt = Number(/at step (\d+)/.exec(e.message)?.[1]);
        throw e;
      }),
      /loss is (NaN|Infinity|-Infinity) at step \d+ .*the last good checkpoint in .* is kept \(step \d+\)/,
    );
    const st = loadState(out);
    assert.ok(failedAt >= 2, 'the first step already failed: nothing to keep');
    assert.equal(st.meta.step, failedAt - 1, 'the checkpoint on disk is not the last good step');
    assert.ok(!existsSync(join(out, 'state.tmp')), 'a half-written state was left behind');
    assert.ok(st.meta.losses.every(Number.isFinite));
    const model = await DiffusionModel.create(ort, readFileSync(join(out, 'model.onnx')));
    assert.equal(model.config.training?.step, st.meta.step);
  });

  it('fine-tunes the PyTorch-exported fixture for 20 steps: loss falls, model.onnx keeps its inputs/outputs and runs', async () => {
    const out = tmp();
    const r = await train({ init: fixture, config: fixtureJson, data: 'synthetic:64', steps: 20, batch: 8, lr: 1e-3, threads: 2, out, warmup: 0 });
    assert.ok(mean(r.losses.slice(-5)) < mean(r.losses.slice(0, 5)), `loss did not fall: ${r.losses}`);
    const m = decodeModel(readFileSync(join(out, 'model.onnx')), 'out');
    assert.deepEqual(m.graph.inputs.map((i) => i.name), ['x', 't']);
    assert.deepEqual(m.graph.outputs.map((o) => o.name), ['out']);
    const model = await DiffusionModel.create(ort, readFileSync(join(out, 'model.onnx')));
    const y = await model.run(new Float32Array(2 * 256).fill(0.1), Int32Array.from([3, 500]));
    assert.equal(y.length, 512);
    assert.ok(y.every(Number.isFinite));
  });

  it('a recipe with dropout trains, and the gradient goes through each Dropout mask output', async () => {
    const recipe = loadRecipe(tiny);
    const dropoutRecipe = { ...recipe, unet: { ...recipe.unet, dropout: 0.2 } };
    // In the gradient graph of the training model (setup.ts builds it with Dropout nodes), each
    // Dropout's mask (output 1) must be read by the backward pass
    // (dx = dy * mask / (1 - ratio), checked numerically in test/autodiff/misc.test.ts).
    const model = buildModel(dropoutRecipe, { training: true });
    const nodes = buildStepGraph(model, readModelConfig(model.metadata, 'dropout')!, { optimizer: 'none' }).model.graph.nodes;
    const drops = nodes.filter((n) => n.opType === 'Dropout');
    assert.ok(drops.length > 0, 'no Dropout node in a dropout 0.2 recipe');
    for (const d of drops) {
      assert.ok(d.outputs[1], `${d.name}: no mask output`);
      assert.ok(nodes.some((n) => n.inputs.includes(d.outputs[1])), `${d.name}: the mask is not used by the backward pass`);
    }
    const r = await train({ ...base, recipe: dropoutRecipe, steps: 20, out: tmp() });
    assert.ok(r.losses.every(Number.isFinite));
    assert.ok(mean(r.losses.slice(-5)) < mean(r.losses.slice(0, 5)), `loss did not fall: ${r.losses}`);
  });

  it('overfitting one fixed batch of unet-tiny halves the loss within 100 steps', async () => {
    const r = await train({ ...base, steps: 100, overfitBatch: 8, lr: 3e-3, warmup: 0, lrDecay: 'constant', out: tmp() });
    const first = mean(r.losses.slice(0, 5));
    const last = mean(r.losses.slice(-10));
    assert.ok(last < first / 2, `loss ${first} -> ${last}`);
  });
});
