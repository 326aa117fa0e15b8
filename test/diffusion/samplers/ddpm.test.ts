import assert from 'node:assert/strict';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { ddpmPosterior, ddpmSample, ddpmStep } from '../../../src/diffusion/samplers/ddpm';
import { Rng } from '../../../src/core/rng';
import { maxAbsDiff, oracle, randomX0 } from '../oracle';

describe('samplers/ddpm', () => {
  const T = 1000, size = 3 * 16;
  const s = makeSchedule({ timesteps: T });
  const x0 = randomX0(size, 11);

  // Ho et al. 2020 eq. 6-7 from the linear betas alone, independently of schedules.ts.
  function closedForm(t: number): { c1: number; c2: number; betaTilde: number; beta: number } {
    let ab = 1, abPrev = 1, beta = 0;
    for (let i = 0; i <= t; i++) {
      beta = 1e-4 + ((0.02 - 1e-4) * i) / (T - 1);
      abPrev = ab;
      ab *= 1 - beta;
    }
    return {
      c1: (Math.sqrt(abPrev) * beta) / (1 - ab),
      c2: (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab),
      betaTilde: ((1 - abPrev) / (1 - ab)) * beta,
      beta,
    };
  }

  for (const t of [999, 500, 37, 1]) {
    it(`step at t = ${t} with zero noise is the posterior mean of eq. 7, with beta-tilde or beta variance`, () => {
      const xt = new Rng(t).normalArray(size);
      const cf = closedForm(t);
      const r = ddpmStep({ schedule: s, prediction: 'x0', x: xt, modelOutput: x0, t, noise: null, clipX0: false });
      const expected = xt.map((v, i) => cf.c1 * x0[i] + cf.c2 * v);
      assert.ok(maxAbsDiff(r.prev, expected) < 1e-6);
      assert.ok(maxAbsDiff(r.mean, expected) < 1e-6);
      assert.ok(Math.abs(r.variance - cf.betaTilde) < 1e-12);
      const rb = ddpmStep({ schedule: s, prediction: 'x0', x: xt, modelOutput: x0, t, noise: null, variance: 'beta' });
      assert.ok(Math.abs(rb.variance - cf.beta) < 1e-15);
      // with noise z: x_{t-1} = mu + sigma z
      const z = new Rng(99).normalArray(size);
      const rz = ddpmStep({ schedule: s, prediction: 'x0', x: xt, modelOutput: x0, t, noise: z, clipX0: false });
      assert.ok(maxAbsDiff(rz.prev, expected.map((m, i) => m + Math.sqrt(cf.betaTilde) * z[i])) < 1e-6);
    });
  }

  it('posterior at mid t = 500, per coefficient (x0 = e1, x_t = e2): mean coef1, coef2 and variance of eq. 7', () => {
    const t = 500;
    const cf = closedForm(t);
    const p = ddpmPosterior(s, t, t - 1, 'posterior');
    assert.ok(Math.abs(p.coef1 - cf.c1) < 1e-12, `coef1 ${p.coef1} vs ${cf.c1}`);
    assert.ok(Math.abs(p.coef2 - cf.c2) < 1e-12, `coef2 ${p.coef2} vs ${cf.c2}`);
    assert.ok(Math.abs(p.variance - cf.betaTilde) < 1e-12, `variance ${p.variance} vs ${cf.betaTilde}`);
    // the step reads them off: mean = coef1 x0 + coef2 x_t, element by element
    const r = ddpmStep({ schedule: s, prediction: 'x0', x: Float32Array.of(0, 1), modelOutput: Float32Array.of(1, 0), t, noise: null, clipX0: false });
    assert.ok(Math.abs(r.mean[0] - cf.c1) < 1e-7 && Math.abs(r.mean[1] - cf.c2) < 1e-7, String(r.mean));
    // sigma z with z = e1: the noise enters with sqrt(beta-tilde)
    const rz = ddpmStep({ schedule: s, prediction: 'x0', x: Float32Array.of(0, 0), modelOutput: Float32Array.of(0, 0), t, noise: Float32Array.of(1, 0), clipX0: false });
    assert.ok(Math.abs(rz.prev[0] - Math.sqrt(cf.betaTilde)) < 1e-7 && rz.prev[1] === 0);
  });

  it('an eps-prediction step gives the same mean as the x0 one at the same x0', () => {
    const t = 300;
    const xt = new Rng(5).normalArray(size);
    const a = s.alphasCumprod[t];
    const eps = xt.map((v, i) => (v - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a));
    const re = ddpmStep({ schedule: s, prediction: 'eps', x: xt, modelOutput: eps, t, noise: null, clipX0: false });
    const rx = ddpmStep({ schedule: s, prediction: 'x0', x: xt, modelOutput: x0, t, noise: null, clipX0: false });
    assert.ok(maxAbsDiff(re.mean, rx.mean) < 1e-5);
  });

  it('the full chain with an oracle ends on x0 (the t = 0 step adds no noise)', async () => {
    const small = makeSchedule({ timesteps: 100, betaStart: 1e-3, betaEnd: 0.05 });
    const out = await ddpmSample(oracle(x0, small, 'eps'), small, 'eps', { n: 1, c: 3, h: 4, w: 4 }, { seed: 4, clipX0: false });
    assert.ok(maxAbsDiff(out, x0) < 1e-4, String(maxAbsDiff(out, x0)));
  });

  it('with fewer steps it skips with the respaced posterior and still ends on x0', async () => {
    const out = await ddpmSample(oracle(x0, s, 'v'), s, 'v', { n: 1, c: 3, h: 4, w: 4 }, { steps: 25, seed: 4, clipX0: false });
    assert.ok(maxAbsDiff(out, x0) < 1e-4);
  });
});
