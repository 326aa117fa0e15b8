import { strict as assert } from 'node:assert';
import { join, resolve } from 'node:path';
import { readModelConfig, ModelConfig } from '../../src/core/model-config';
import { minSnrWeights, qSample, targetFor } from '../../src/diffusion/objectives';
import { Rng } from '../../src/core/rng';
import { makeSchedule } from '../../src/diffusion/schedules';
import { buildModel, loadRecipe } from '../../src/nn';
import { Model } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { namePredicate } from '../../src/train/params';
import { buildStepGraph } from '../../src/train/step-graph';

const root = resolve(__dirname, '../..');
const B = 2;

function tinyModel(prediction: 'eps' | 'x0' | 'v' = 'eps'): { model: Model; config: ModelConfig } {
  const r = loadRecipe(join(root, 'graphs/unet-tiny.json'));
  const model = buildModel({ ...r, diffusion: { ...r.diffusion, prediction } }, { seed: 3 });
  return { model, config: readModelConfig(model.metadata, 'tiny')! };
}

function batch(seed: number) {
  const rng = new Rng(seed);
  const n = B * 16 * 16;
  return {
    x0: Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1),
    noise: rng.normalArray(n),
    t: [17, 640],
  };
}

const feedsOf = (d: ReturnType<typeof batch>) => ({
  x0: Tensor.float32([B, 1, 16, 16], d.x0), noise: Tensor.float32([B, 1, 16, 16], d.noise), t: Tensor.int64([B], d.t),
});

describe('training-step graph', () => {
  it('the conv-gradient formulation is an option of the build, not a global: slice-gemm adds Gemms, the default none', () => {
    const { model, config } = tinyModel();
    const ops = (g: ReturnType<typeof buildStepGraph>) => g.model.graph.nodes.filter((n) => n.opType === 'Gemm').length;
    const sliceGemm = buildStepGraph(model, config, { optimizer: 'none', conv: { weightGradient: 'slice-gemm' } });
    const byDefault = buildStepGraph(model, config, { optimizer: 'none' });
    assert.ok(ops(sliceGemm) > ops(byDefault) + 9, `${ops(sliceGemm)} Gemm nodes vs ${ops(byDefault)}`);
    // a later default build is unaffected by the earlier choice
    assert.equal(ops(buildStepGraph(model, config, { optimizer: 'none' })), ops(byDefault));
  });

  for (const prediction of ['eps', 'x0', 'v'] as const) {
    it(`the in-graph loss equals F.mse_loss of model.onnx on x_t formed in JavaScript (${prediction} target)`, async () => {
      const { model, config } = tinyModel(prediction);
      const d = batch(1);
      const sch = makeSchedule(config.diffusion);
      const abar = d.t.map((t) => sch.alphasCumprod[t]);
      const xt = qSample(d.x0, d.noise, abar);
      const fwd = await NodeSession.create(model, { threads: 1 });
      const out = (await fwd.run({ x: Tensor.float32([B, 1, 16, 16], xt), t: Tensor.int64([B], d.t) })).out.data as Float32Array;
      const target = targetFor(prediction, d.x0, d.noise, abar);
      const ref = out.reduce((s, o, i) => s + (o - target[i]) ** 2, 0) / out.length;
      const g = buildStepGraph(model, config, { optimizer: 'none', batch: B });
      const loss = ((await (await NodeSession.create(g.model, { threads: 1 })).run(feedsOf(d))).loss.data as Float32Array)[0];
      assert.ok(Math.abs(loss - ref) <= 1e-5 * Math.abs(ref), `${loss} vs ${ref}`);
    });
  }

  it('min-SNR-gamma weighting multiplies each sample\x27s squared error by its weight', async () => {
    const { model, config } = tinyModel('eps');
    const d = batch(2);
    const sch = makeSchedule(config.diffusion);
    const abar = d.t.map((t) => sch.alphasCumprod[t]);
    const fwd = await NodeSession.create(model, { threads: 1 });
    const out = (await fwd.run({ x: Tensor.float32([B, 1, 16, 16], qSample(d.x0, d.noise, abar)), t: Tensor.int64([B], d.t) })).out.data as Float32Array;
    const w = minSnrWeights(abar, 5, 'eps');
    const per = out.length / B;
    const ref = out.reduce((s, o, i) => s + w[Math.floor(i / per)] * (o - d.noise[i]) ** 2, 0) / out.length;
    const g = buildStepGraph(model, config, { optimizer: 'none', batch: B, minSnrGamma: 5 });
    const loss = ((await (await NodeSession.create(g.model, { threads: 1 })).run(feedsOf(d))).loss.data as Float32Array)[0];
    assert.ok(Math.abs(loss - ref) <= 1e-5 * Math.abs(ref), `${loss} vs ${ref}`);
  });

  it('gradients of UNet parameters pass a directional finite-difference check', async () => {
    const { model, config } = tinyModel('eps');
    const names = ['conv_in.weight', 'down.0.res.0.conv1.weight', 'mid.attn.qkv.weight', 'temb.lin1.weight', 'up.1.res.0.norm1.weight', 'conv_out.bias'];
    for (const n of names) assert.ok(model.graph.initializers.has(n), `no parameter ${n}`);
    const g = buildStepGraph(model, config, { optimizer: 'none', batch: B });
    const s = await NodeSession.create(g.model, { threads: 1 });
    const d = batch(4);
    const res = await s.run(feedsOf(d));
    const rng = new Rng(9);
    const dir = new Map(names.map((n) => [n, rng.normalArray(model.graph.initializers.get(n)!.size)]));
    let lhs = 0;
    for (const n of names) {
      const gr = res[`grad/${n}`].data as Float32Array;
      dir.get(n)!.forEach((v, i) => (lhs += v * gr[i]));
    }
    // Central difference of the loss along dir, evaluated with the same graph's loss output on
    // perturbed weights. float32: with h = 1e-3 the rounding error of L (~1e-7 |L| / h) and the
    // O(h^2) truncation error both stay far below the 2% tolerance for these magnitudes.
    const h = 1e-3;
    const lossAt = async (sign: number) => {
      const inits = new Map(g.model.graph.initializers);
      for (const n of names) {
        const t = model.graph.initializers.get(n)!;
        const p = (t.data as Float32Array).map((v, i) => v + sign * h * dir.get(n)![i]);
        inits.set(n, new Tensor('float32', t.dims, p));
      }
      const m2: Model = { ...g.model, graph: Object.assign(Object.create(Object.getPrototypeOf(g.model.graph)), g.model.graph, { initializers: inits }) };
      return ((await (await NodeSession.create(m2, { threads: 1 })).run(feedsOf(d))).loss.data as Float32Array)[0];
    };
    const rhs = ((await lossAt(1)) - (await lossAt(-1))) / (2 * h);
    assert.ok(Math.abs(lhs - rhs) <= 0.02 * Math.max(Math.abs(lhs), Math.abs(rhs)), `<g, v> = ${lhs}, finite difference ${rhs}`);
  });

  it('--trainable globs select what trains; frozen weights stay initializers of the step graph', () => {
    const { model, config } = tinyModel('eps');
    const g = buildStepGraph(model, config, { trainable: 'up.*,!up.*.norm*', batch: B });
    assert.ok(g.layout.slots.length > 0);
    assert.ok(g.layout.slots.every((s) => s.name.startsWith('up.') && !/\.norm/.test(s.name)));
    assert.ok(g.model.graph.initializers.has('conv_in.weight'));
    assert.ok(!g.model.graph.initializers.has(g.layout.slots[0].name));
    const keep = namePredicate('conv_*,!conv_out.bias');
    assert.deepEqual(['conv_in.weight', 'conv_out.bias', 'mid.x'].map(keep), [true, false, false]);
    assert.throws(() => buildStepGraph(model, config, { trainable: 'nothing.matches' }), /--trainable 'nothing.matches' matches no float parameter/);
  });
});
