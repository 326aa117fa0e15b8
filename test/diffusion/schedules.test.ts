import assert from 'node:assert/strict';
import { ScheduleKind } from '../../src/core/diffusion-config';
import { betaSchedule, makeSchedule, schedules } from '../../src/diffusion/schedules';

const KINDS: ScheduleKind[] = ['linear', 'cosine', 'sigmoid', 'scaled-linear'];

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('schedules', () => {
  it('linear 1e-4..0.02 over 1000 steps ends at abar = 4.036e-5', () => {
    const s = makeSchedule({ timesteps: 1000, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 });
    assert.ok(relErr(s.alphasCumprod[999], 4.036e-5) < 1e-3, `abar[999] = ${s.alphasCumprod[999]}`);
    assert.equal(s.betas[0], 1e-4);
    assert.equal(s.betas[999], 0.02);
  });

  it('cosine matches abar(t) = f(t)/f(0), f(t) = cos(((t/T) + s)/(1 + s) pi/2)^2 (Nichol & Dhariwal eq. 17)', () => {
    const T = 1000, sOff = 0.008;
    const f = (t: number) => Math.cos(((t / T + sOff) / (1 + sOff)) * (Math.PI / 2)) ** 2;
    const s = makeSchedule({ timesteps: T, schedule: 'cosine' });
    // table index i is the paper's t = i + 1
    for (const t of [1, 10, 100, 250, 500, 750, 900, 950]) {
      assert.ok(relErr(s.alphasCumprod[t - 1], f(t) / f(0)) < 1e-9, `t=${t}: ${s.alphasCumprod[t - 1]} vs ${f(t) / f(0)}`);
    }
    assert.equal(s.betas[T - 1], 0.999, 'the last beta is clipped');
  });

  it('sigmoid and scaled-linear follow the diffusers formulas', () => {
    const T = 1000, b0 = 1e-4, b1 = 0.02;
    const sig = betaSchedule('sigmoid', T, b0, b1);
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    for (const i of [0, 123, 500, 999]) {
      const z = -6 + (12 * i) / (T - 1);
      assert.ok(relErr(sig[i], sigmoid(z) * (b1 - b0) + b0) < 1e-12);
    }
    const sl = betaSchedule('scaled-linear', T, 0.00085, 0.012);
    assert.ok(relErr(sl[0], 0.00085) < 1e-12);
    assert.ok(relErr(sl[999], 0.012) < 1e-12);
    const mid = (Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * (500 / 999)) ** 2;
    assert.ok(relErr(sl[500], mid) < 1e-12);
  });

  for (const kind of KINDS) {
    it(`${kind}: every table finite, betas in (0, 1), abar strictly decreasing`, () => {
      const s = makeSchedule({ timesteps: 1000, schedule: kind });
      const tables = [s.betas, s.alphas, s.alphasCumprod, s.alphasCumprodPrev, s.sqrtAlphasCumprod,
        s.sqrtOneMinusAlphasCumprod, s.sqrtRecipAlphasCumprod, s.sqrtRecipm1AlphasCumprod, s.posteriorVariance,
        s.posteriorLogVarianceClipped, s.posteriorMeanCoef1, s.posteriorMeanCoef2, s.snr];
      for (const tab of tables) {
        assert.equal(tab.length, 1000);
        for (const v of tab) assert.ok(Number.isFinite(v));
      }
      for (const b of s.betas) assert.ok(b > 0 && b < 1);
      for (let i = 1; i < 1000; i++) assert.ok(s.alphasCumprod[i] < s.alphasCumprod[i - 1]);
      assert.equal(s.alphasCumprodPrev[0], 1);
      assert.equal(s.posteriorLogVarianceClipped[0], s.posteriorLogVarianceClipped[1]);
    });
  }

  it('posterior coefficients match Ho et al. eq. 7 from the betas alone', () => {
    const s = makeSchedule({ timesteps: 200, schedule: 'linear', betaStart: 1e-3, betaEnd: 0.03 });
    let ab = 1;
    for (let t = 0; t < 200; t++) {
      const beta = 1e-3 + ((0.03 - 1e-3) * t) / 199;
      const abPrev = ab;
      ab *= 1 - beta;
      assert.ok(relErr(s.alphasCumprod[t], ab) < 1e-12);
      assert.ok(Math.abs(s.posteriorMeanCoef1[t] - (Math.sqrt(abPrev) * beta) / (1 - ab)) < 1e-12);
      assert.ok(Math.abs(s.posteriorMeanCoef2[t] - (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab)) < 1e-12);
      assert.ok(Math.abs(s.posteriorVariance[t] - ((1 - abPrev) / (1 - ab)) * beta) < 1e-15);
      assert.ok(relErr(s.snr[t], ab / (1 - ab)) < 1e-12);
    }
  });

  it('exposes the library object', () => {
    assert.equal(schedules.make({ timesteps: 10 }).timesteps, 10);
    assert.ok(Math.abs(schedules.betas('linear', 5, 0.1, 0.5)[2] - 0.3) < 1e-15);
  });
});
