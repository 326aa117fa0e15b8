import assert from 'node:assert/strict';
import { Rng } from '../../../src/core/rng';
import { TOY_T, toyAmountToT, toyCorrupt, toySample } from '../../../src/diffusion/samplers/toy';
import { Denoiser } from '../../../src/diffusion/samplers/types';
import { FORMAT, ModelConfig } from '../../../src/core/model-config';
import { createSampler } from '../../../src/diffusion/sampler';
import { maxAbsDiff, randomX0 } from '../oracle';

describe('samplers/toy', () => {
  const shape = { n: 2, c: 1, h: 6, w: 6 };
  const x0 = randomX0(72, 3);
  const oracle: Denoiser = async () => Float32Array.from(x0);

  it('maps the noise amount a to t = round(a (T - 1)) with T = 1000', () => {
    assert.equal(TOY_T, 1000);
    assert.equal(toyAmountToT(1), 999);
    assert.equal(toyAmountToT(0), 0);
    assert.equal(toyAmountToT(0.5), 500);
    assert.throws(() => toyAmountToT(1.2), /noise amount must be in \[0, 1\]/);
  });

  it('corrupts as x = (1 - a) x0 + a noise, per sample', () => {
    const noise = new Rng(1).normalArray(72);
    const x = toyCorrupt(x0, noise, [0, 0.25]);
    assert.deepEqual(x.subarray(0, 36), x0.subarray(0, 36));
    assert.ok(Math.abs(x[40] - (0.75 * x0[40] + 0.25 * noise[40])) < 1e-7);
  });

  for (const K of [1, 5, 20]) {
    it(`K = ${K}: an oracle x0-predictor lands exactly on x0, noise amounts 1, 1 - 1/K, ...`, async () => {
      const ts: number[] = [];
      const d: Denoiser = async (x, t) => {
        ts.push(t[0]);
        assert.equal(t.length, 2);
        return oracle(x, t);
      };
      const out = await toySample(d, shape, { steps: K, seed: 9 });
      assert.ok(maxAbsDiff(out, x0) < 1e-6);
      assert.deepEqual(ts, Array.from({ length: K }, (_, i) => Math.round((1 - i / K) * 999)));
    });
  }

  it('moves 1/(K - i) of the way to the prediction at step i', async () => {
    const start = new Float32Array(72).fill(1);
    const zero: Denoiser = async (x) => new Float32Array(x.length);
    const xs: number[] = [];
    await toySample(zero, shape, { steps: 4, initialNoise: start, onStep: ({ x }) => { xs.push(x[0]); } });
    // x_{i+1} = x_i (1 - 1/(K - i)): 1 * 3/4 = 0.75, * 2/3 = 0.5, * 1/2 = 0.25, * 0 = 0
    assert.deepEqual(xs.map((v) => Math.round(v * 1e6) / 1e6), [0.75, 0.5, 0.25, 0]);
  });

  it('draws U[0, 1) noise by default and N(0, 1) on request, reproducibly', async () => {
    const id: Denoiser = async (x) => x;
    const u = await toySample(id, shape, { steps: 2, seed: 5 });
    assert.ok(u.every((v) => v >= 0 && v < 1));
    const n1 = await toySample(id, shape, { steps: 2, seed: 5, noise: 'normal' });
    const n2 = await toySample(id, shape, { steps: 2, seed: 5, noise: 'normal' });
    assert.deepEqual(n1, n2);
    assert.ok(n1.some((v) => v < 0));
  });

  it('a toy model with T = 50 is sampled at t = round(a (T - 1)) in [0, 49], the inverse of training\'s a = t / (T - 1)', async () => {
    const config: ModelConfig = {
      format: FORMAT, kind: 'toy', image: { channels: 1, size: 4 }, conditioning: {},
      diffusion: { timesteps: 50, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'x0' },
    };
    const seen: number[] = [];
    const model = { config, run: async (x: Float32Array, t: Int32Array) => { seen.push(...t); return new Float32Array(x.length); } };
    const K = 5;
    await createSampler(model, { steps: K, seed: 1 }).sample(1);
    assert.deepEqual(seen, [49, 39, 29, 20, 10]);
    // training's forward table (train/step-graph.ts) corrupts with a = t / (T - 1): the same amount, to rounding
    seen.forEach((t, i) => assert.ok(Math.abs(t / 49 - (1 - i / K)) <= 0.5 / 49, `step ${i}: t ${t}`));
    assert.equal(toyAmountToT(1, 50), 49);
  });
});
