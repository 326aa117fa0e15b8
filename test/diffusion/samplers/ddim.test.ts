import assert from 'node:assert/strict';
import { Prediction } from '../../../src/core/diffusion-config';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { ddimSample, ddimSigma, ddimStep } from '../../../src/diffusion/samplers/ddim';
import { maxAbsDiff, oracle, randomX0 } from '../oracle';

describe('samplers/ddim', () => {
  describe('one step against the closed form of Song et al. eq. 12 (x_t = e1, eps = e2, z = e3)', () => {
    // With unit vectors each output element is one coefficient of
    // x_{t-1} = sqrt(a_prev) (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) + sqrt(1 - a_prev - sigma^2) eps + sigma z.
    const [a, aPrev] = [0.5, 0.8];
    const x = Float32Array.of(1, 0, 0), eps = Float32Array.of(0, 1, 0), z = Float32Array.of(0, 0, 1);
    for (const eta of [0, 1]) {
      it(`eta = ${eta}: the x_t, eps and z coefficients`, () => {
        const sigma = eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(1 - a / aPrev);
        assert.ok(Math.abs(ddimSigma(a, aPrev, eta) - sigma) < 1e-15);
        const r = ddimStep({ x, modelOutput: eps, prediction: 'eps', abar: a, abarPrev: aPrev, sigma, noise: eta > 0 ? z : null, clipX0: false });
        const cX = Math.sqrt(aPrev / a); // sqrt(0.8 / 0.5) = 1.2649
        const cEps = Math.sqrt(1 - aPrev - sigma * sigma) - Math.sqrt(aPrev) * Math.sqrt(1 - a) / Math.sqrt(a);
        assert.ok(Math.abs(r.prev[0] - cX) < 1e-6, `x_t coefficient ${r.prev[0]} vs ${cX}`);
        assert.ok(Math.abs(r.prev[1] - cEps) < 1e-6, `eps coefficient ${r.prev[1]} vs ${cEps}`);
        assert.ok(Math.abs(r.prev[2] - sigma) < 1e-6, `z coefficient ${r.prev[2]} vs ${sigma}`);
        // eq. 9: x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
        assert.ok(Math.abs(r.x0[0] - 1 / Math.sqrt(a)) < 1e-6 && Math.abs(r.x0[1] + Math.sqrt((1 - a) / a)) < 1e-6);
      });
    }
    it('eta = 0 in numbers: x_{t-1} = (sqrt(1.6), sqrt(0.2) - sqrt(0.8), 0) = (1.264911, -0.447214, 0)', () => {
      const r = ddimStep({ x, modelOutput: eps, prediction: 'eps', abar: a, abarPrev: aPrev, sigma: 0, noise: null, clipX0: false });
      assert.ok(Math.abs(r.prev[0] - 1.2649111) < 1e-6 && Math.abs(r.prev[1] - -0.4472136) < 1e-6 && r.prev[2] === 0, String(r.prev));
    });
  });

  const shape = { n: 2, c: 1, h: 8, w: 8 };
  const size = 2 * 64;
  const x0 = randomX0(size);

  for (const schedule of ['linear', 'cosine'] as const) {
    for (const prediction of ['eps', 'x0', 'v'] as Prediction[]) {
      it(`eta = 0 recovers x0 from x_T with an oracle (${schedule}, ${prediction}, clipping off)`, async () => {
        const s = makeSchedule({ schedule, prediction });
        for (const spacing of ['leading', 'trailing', 'linspace'] as const) {
          const out = await ddimSample(oracle(x0, s, prediction), s, prediction, shape, { steps: 20, seed: 3, clipX0: false, spacing });
          assert.ok(maxAbsDiff(out, x0) < 1e-4, `${spacing}: ${maxAbsDiff(out, x0)}`);
        }
      });
    }
  }

  it('stays on the forward marginal at every step (x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, same eps)', async () => {
    const s = makeSchedule({});
    const seen: number[] = [];
    let eps0: Float32Array | null = null;
    await ddimSample(oracle(x0, s, 'eps'), s, 'eps', shape, {
      steps: 10, seed: 1, clipX0: false,
      onStep: ({ step, total, x }) => {
        seen.push(step);
        if (step === total - 1) return;
        const tNext = 800 - 100 * step; // leading spacing, the timestep just reached
        const a = s.alphasCumprod[tNext];
        const eps = x.map((v, i) => (v - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a));
        if (eps0 === null) eps0 = eps;
        else assert.ok(maxAbsDiff(eps, eps0) < 1e-4);
      },
    });
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('eta = 1 gives the DDPM posterior standard deviation (Song et al. eq. 16)', () => {
    const s = makeSchedule({});
    const t = 500, prev = 499;
    const sigma = ddimSigma(s.alphasCumprod[t], s.alphasCumprod[prev], 1);
    assert.ok(Math.abs(sigma * sigma - s.posteriorVariance[t]) < 1e-12);
    assert.equal(ddimSigma(s.alphasCumprod[t], s.alphasCumprod[prev], 0), 0);
  });

  it('clips x0 to [-1, 1] by default', async () => {
    const s = makeSchedule({});
    const big = new Float32Array(size).fill(3);
    const out = await ddimSample(oracle(big, s, 'x0'), s, 'x0', shape, { steps: 5 });
    for (const v of out) assert.ok(Math.abs(v - 1) < 1e-5);
  });
});
