import assert from 'node:assert/strict';
import { blurDegrade, blurSigma, gaussianBlur, reflectIndex } from '../../../src/diffusion/degradations/blur';
import { ColdConfig, coldDegrade, coldSample } from '../../../src/diffusion/samplers/cold';
import { Denoiser } from '../../../src/diffusion/samplers/types';
import { maxAbsDiff, randomX0 } from '../oracle';

function totalVariation(x: Float32Array, h: number, w: number): number {
  let tv = 0;
  for (let p = 0; p < x.length / (h * w); p++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const i = p * h * w + y * w + xx;
        if (xx + 1 < w) tv += Math.abs(x[i + 1] - x[i]);
        if (y + 1 < h) tv += Math.abs(x[i + w] - x[i]);
      }
    }
  }
  return tv;
}

describe('samplers/cold (Gaussian blur)', () => {
  const cfg: ColdConfig = { timesteps: 20, blurStd: 0.1, c: 3, h: 12, w: 10 };
  const x0 = randomX0(2 * 3 * 12 * 10, 4);

  it('D(x0, 0) is exactly the identity', () => {
    const d = coldDegrade(x0, 0, cfg);
    assert.deepEqual(d, x0);
    assert.notEqual(d, x0, 'a copy, not the input');
  });

  it('blurs more as t grows (total variation decreasing)', () => {
    // t = 1 has sigma = 0.1 px: its kernel's side taps are e^-50, below float32 resolution
    const tv0 = totalVariation(x0, cfg.h, cfg.w);
    assert.equal(totalVariation(coldDegrade(x0, 1, cfg), cfg.h, cfg.w), tv0);
    let prev = tv0;
    for (let t = 2; t <= cfg.timesteps; t++) {
      const tv = totalVariation(coldDegrade(x0, t, cfg), cfg.h, cfg.w);
      assert.ok(tv < prev, `t=${t}: ${tv} !< ${prev}`);
      prev = tv;
    }
    assert.ok(prev < 0.1 * tv0, `TV(T) = ${prev}, TV(0) = ${tv0}`);
  });

  it('sigma_t is the closed form of t successive blurs of std blurStd * i', () => {
    for (const t of [1, 2, 7, 20]) {
      let sumSq = 0;
      for (let i = 1; i <= t; i++) sumSq += (0.1 * i) ** 2;
      assert.ok(Math.abs(blurSigma(t, cfg) - Math.sqrt(sumSq)) < 1e-12);
    }
    assert.equal(blurSigma(4, { ...cfg, routine: 'constant' }), 0.2);
    assert.throws(() => blurSigma(21, cfg), /t must be an integer in \[0, 20\]/);
  });

  it('blurs an impulse into a Gaussian of variance sigma^2 and keeps constants constant', () => {
    const n = 41, sigma = 2.5;
    const img = new Float32Array(n * n);
    img[20 * n + 20] = 1;
    const b = gaussianBlur(img, { n: 1, c: 1, h: n, w: n }, sigma);
    let mass = 0, varX = 0;
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) { mass += b[y * n + x]; varX += b[y * n + x] * (x - 20) ** 2; }
    assert.ok(Math.abs(mass - 1) < 1e-6);
    assert.ok(Math.abs(varX - sigma * sigma) / (sigma * sigma) < 0.02, String(varX));
    const flat = gaussianBlur(new Float32Array(60).fill(0.3), { n: 1, c: 1, h: 6, w: 10 }, 7);
    for (const v of flat) assert.ok(Math.abs(v - 0.3) < 1e-6);
  });

  it('reflects without repeating the edge, also for kernels wider than the image', () => {
    assert.deepEqual([-3, -2, -1, 0, 3, 4, 5, 6, 7, 11].map((i) => reflectIndex(i, 4)), [3, 2, 1, 0, 3, 2, 1, 0, 1, 1]);
  });

  it('degrades each sample at its own t for training batches', () => {
    const both = coldDegrade(x0, [0, 9], cfg);
    const per = 360;
    assert.deepEqual(both.subarray(0, per), x0.subarray(0, per));
    assert.deepEqual(both.subarray(per), coldDegrade(x0.subarray(per), 9, cfg));
    assert.throws(() => blurDegrade(x0, { n: 2, c: 3, h: 12, w: 10 }, [1], cfg), /1 timesteps for a batch of 2/);
  });

  for (const algorithm of ['improved', 'naive'] as const) {
    it(`${algorithm}: with an oracle x0-predictor the sampler returns x0, asking t = T..1`, async () => {
      const ts: number[] = [];
      const oracle: Denoiser = async (_x, t) => { ts.push(t[0]); return Float32Array.from(x0); };
      const xT = coldDegrade(x0, cfg.timesteps, cfg);
      const out = await coldSample(oracle, xT, cfg, { algorithm });
      assert.ok(maxAbsDiff(out, x0) < 1e-6);
      assert.deepEqual(ts, Array.from({ length: 20 }, (_, i) => 20 - i));
    });
  }

  it('Algorithm 2 telescopes: a fixed prediction p gives x_T - D(p, T) + p; Algorithm 1 gives p', async () => {
    // sum over s of D(p, s-1) - D(p, s) = D(p, 0) - D(p, T): what x_T carries beyond D(p, T) survives.
    const p = randomX0(x0.length, 77).map((v) => 0.5 * v);
    const fixed: Denoiser = async () => Float32Array.from(p);
    const xT = coldDegrade(x0, cfg.timesteps, cfg);
    const dpT = coldDegrade(p, cfg.timesteps, cfg);
    const imp = await coldSample(fixed, xT, cfg);
    assert.ok(maxAbsDiff(imp, xT.map((v, i) => v - dpT[i] + p[i])) < 1e-5);
    assert.deepEqual(await coldSample(fixed, xT, cfg, { algorithm: 'naive' }), p);
  });
});
