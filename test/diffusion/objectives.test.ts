import assert from 'node:assert/strict';
import { Prediction } from '../../src/core/diffusion-config';
import {
  epsToX0, minSnrWeight, minSnrWeights, predToEps, predToX0, qSample, snrFromAbar, targetFor, vToEps, vToX0, x0EpsToV,
} from '../../src/diffusion/objectives';
import { Rng } from '../../src/core/rng';
import { maxAbsDiff, randomX0 } from './oracle';

describe('objectives', () => {
  const n = 4, per = 3 * 8 * 8;
  const x0 = randomX0(n * per, 1);
  const eps = new Rng(2).normalArray(n * per);
  const abar = [0.9999, 0.7, 0.2, 4.036e-5];
  const xt = qSample(x0, eps, abar);

  it('q_sample uses each sample its own abar', () => {
    for (const b of [0, 3]) {
      const i = b * per + 5;
      assert.ok(Math.abs(xt[i] - (Math.sqrt(abar[b]) * x0[i] + Math.sqrt(1 - abar[b]) * eps[i])) < 1e-6);
    }
  });

  it('eps <-> x0 <-> v round-trip to 1e-6', () => {
    const v = x0EpsToV(x0, eps, abar);
    // Measured 7e-8 and 1.2e-7 (float32 rounding of x_t and v, even at abar = 4e-5): 1e-6 leaves ~10x.
    assert.ok(maxAbsDiff(vToX0(v, xt, abar), x0) < 1e-6, `v -> x0: ${maxAbsDiff(vToX0(v, xt, abar), x0)}`);
    assert.ok(maxAbsDiff(vToEps(v, xt, abar), eps) < 1e-6, `v -> eps: ${maxAbsDiff(vToEps(v, xt, abar), eps)}`);
    // exact-arithmetic round trips at moderate abar
    const mid = [0.5, 0.3, 0.8, 0.6];
    const xm = qSample(x0, eps, mid);
    const vm = x0EpsToV(x0, eps, mid);
    for (const p of ['eps', 'x0', 'v'] as Prediction[]) {
      const target = targetFor(p, x0, eps, mid);
      assert.ok(maxAbsDiff(predToX0(target, p, xm, mid), x0) < 1e-6, `${p} -> x0`);
      assert.ok(maxAbsDiff(predToEps(target, p, xm, mid), eps) < 1e-6, `${p} -> eps`);
    }
    assert.ok(maxAbsDiff(vToX0(vm, xm, mid), x0) < 1e-6);
    assert.ok(maxAbsDiff(epsToX0(eps, xm, mid), x0) < 1e-6);
  });

  it('targetFor gives eps, x0 and v = sqrt(abar) eps - sqrt(1 - abar) x0', () => {
    assert.deepEqual(targetFor('eps', x0, eps, abar), eps);
    assert.deepEqual(targetFor('x0', x0, eps, abar), x0);
    const v = targetFor('v', x0, eps, abar);
    const i = 2 * per + 11;
    assert.ok(Math.abs(v[i] - (Math.sqrt(0.2) * eps[i] - Math.sqrt(0.8) * x0[i])) < 1e-6);
  });

  it('min-SNR-gamma weights: min(SNR, g) for x0, /SNR for eps, /(SNR + 1) for v', () => {
    assert.equal(minSnrWeight(10, 5, 'x0'), 5);
    assert.equal(minSnrWeight(10, 5, 'eps'), 0.5);
    assert.equal(minSnrWeight(10, 5, 'v'), 5 / 11);
    assert.equal(minSnrWeight(0.5, 5, 'eps'), 1);
    assert.equal(minSnrWeight(0.5, 5, 'x0'), 0.5);
    const w = minSnrWeights([0.5], 5, 'v');
    assert.ok(Math.abs(w[0] - 1 / 2) < 1e-7, 'snr = 1 -> 1 / 2');
    assert.throws(() => minSnrWeight(1, 0, 'eps'), /gamma must be > 0/);
  });

  it('the weighted losses agree across parameterisations (same x0 error, Hang et al. eq. 8)', () => {
    const a = 0.3, snr = snrFromAbar(a), gamma = 5;
    const x0hat = randomX0(per, 9);
    const one = x0.subarray(0, per), e = eps.subarray(0, per);
    const x = qSample(one, e, [a]);
    const sq = (p: Float32Array, q: Float32Array) => p.reduce((s, _, i) => s + (p[i] - q[i]) ** 2, 0);
    const lossX0 = sq(x0hat, one) * minSnrWeight(snr, gamma, 'x0');
    const epsHat = predToEps(x0hat, 'x0', x, [a]);
    const lossEps = sq(epsHat, e) * minSnrWeight(snr, gamma, 'eps');
    const vHat = x0EpsToV(x0hat, epsHat, [a]);
    const lossV = sq(vHat, x0EpsToV(one, e, [a])) * minSnrWeight(snr, gamma, 'v');
    assert.ok(Math.abs(lossEps - lossX0) / lossX0 < 1e-4, `${lossEps} vs ${lossX0}`);
    assert.ok(Math.abs(lossV - lossX0) / lossX0 < 1e-4, `${lossV} vs ${lossX0}`);
  });

  it('rejects a batch that does not split into samples', () => {
    assert.throws(() => qSample(new Float32Array(5), new Float32Array(5), [0.5, 0.5]), /5 elements do not split into 2 samples/);
  });
});
