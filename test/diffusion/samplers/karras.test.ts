import assert from 'node:assert/strict';
import { Prediction } from '../../../src/core/diffusion-config';
import { Rng } from '../../../src/core/rng';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { runSampler } from '../../../src/diffusion/samplers';
import { eulerSample, eulerStep } from '../../../src/diffusion/samplers/euler';
import { heunSample, heunStep } from '../../../src/diffusion/samplers/heun';
import { karrasGrid, karrasSigmas, scheduleSigmas, sigmaToTimestep } from '../../../src/diffusion/samplers/karras';
import { Denoiser, SamplerOptions, StepInfo } from '../../../src/diffusion/samplers/types';
import { maxAbsDiff, oracle, randomX0 } from '../oracle';

type Sample = typeof eulerSample;
const SAMPLERS: [string, Sample, (n: number) => number][] = [['euler', eulerSample, (n) => n], ['heun', heunSample, (n) => 2 * n - 1]];

describe('samplers/karras: the EDM sigma grid', () => {
  it('follows Karras et al. eq. 5: first sigma_max, last nonzero sigma_min, then 0, strictly decreasing', () => {
    const n = 10, lo = 0.002, hi = 80;
    const s = karrasSigmas(n, lo, hi);
    assert.equal(s.length, n + 1);
    assert.equal(s[0], hi);
    assert.equal(s[n - 1], lo);
    assert.equal(s[n], 0);
    for (let i = 0; i < n; i++) {
      assert.ok(s[i] > s[i + 1]);
      // eq. 5 rewritten as a convex combination of the rho-th roots
      const r = i / (n - 1);
      const want = ((1 - r) * hi ** (1 / 7) + r * lo ** (1 / 7)) ** 7;
      assert.ok(Math.abs(s[i] - want) <= 1e-12 * want, `sigma_${i} = ${s[i]}, eq. 5 gives ${want}`);
    }
    assert.deepEqual(Array.from(karrasSigmas(1, lo, hi)), [hi, 0]);
  });

  it('takes sigma_min and sigma_max from the schedule (sigma = sqrt((1 - abar) / abar) at t = 0 and T-1) and maps them to 0 and T-1', () => {
    for (const schedule of ['linear', 'cosine', 'scaled-linear'] as const) {
      const sch = makeSchedule({ schedule });
      const a = sch.alphasCumprod;
      const { sigmas, ts } = karrasGrid(sch, 12, 'euler');
      assert.ok(Math.abs(sigmas[0] / Math.sqrt((1 - a[999]) / a[999]) - 1) < 1e-12);
      assert.ok(Math.abs(sigmas[11] / Math.sqrt((1 - a[0]) / a[0]) - 1) < 1e-12);
      assert.equal(ts[0], 999);
      assert.equal(ts[11], 0);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i] <= ts[i - 1], `${schedule}: timesteps ${ts.join(',')}`);
    }
  });

  it('maps a training sigma to its own timestep and a sigma between two to the nearer in log sigma', () => {
    const table = scheduleSigmas(makeSchedule({}));
    for (const t of [0, 1, 17, 500, 998, 999]) assert.equal(sigmaToTimestep(table[t], table), t);
    const between = (t: number, f: number) => Math.exp((1 - f) * Math.log(table[t]) + f * Math.log(table[t + 1]));
    assert.equal(sigmaToTimestep(between(300, 0.4), table), 300);
    assert.equal(sigmaToTimestep(between(300, 0.6), table), 301);
  });

  it('rejects a zero-terminal-SNR schedule (sigma_max infinite) in one line', () => {
    const sch = makeSchedule({});
    const a = Float64Array.from(sch.alphasCumprod);
    a[999] = 0;
    assert.throws(() => karrasGrid({ ...sch, alphasCumprod: a }, 10, 'heun'),
      /^DiffusionError: heun: abar at t = T-1 is 0 \(zero terminal SNR\), so sigma_max is infinite$/);
  });
});

describe('samplers/euler and samplers/heun', () => {
  it('one Euler step and one Heun correction match Karras et al. Algorithm 1 per coefficient', () => {
    // d = (x - x0) / sigma = [0.25, 1.5]; x + (1 - 2) d
    assert.deepEqual(Array.from(eulerStep({ x: new Float32Array([1, 2]), x0: new Float32Array([0.5, -1]), sigma: 2, sigmaNext: 1 })), [0.75, 0.5]);
    // d = 0.25, d' = (0.75 - 0.25) / 1 = 0.5; x + (1 - 2) (d + d') / 2 = 0.625
    const h = heunStep({
      x: new Float32Array([1]), x0: new Float32Array([0.5]), xPred: new Float32Array([0.75]), x0Pred: new Float32Array([0.25]), sigma: 2, sigmaNext: 1,
    });
    assert.deepEqual(Array.from(h), [0.625]);
  });

  // A linear x0-predicting network, out = c x_t, is D(x; sigma) = c x / sqrt(sigma^2 + 1) on the EDM
  // scale; two Karras steps [sigma_max, sigma_min, 0] written out by hand, in float64.
  it('two steps through the sampler equal the hand-written Algorithm 1 (network input x / sqrt(sigma^2 + 1), timesteps 999, 0)', async () => {
    const sch = makeSchedule({});
    const table = scheduleSigmas(sch);
    const hi = table[999], lo = table[0], c = 0.8;
    const z = new Float32Array([0.3, -1.2, 0.7, 2.0]);
    const calls: { t: number; x: Float32Array }[] = [];
    const net: Denoiser = async (x, t) => { calls.push({ t: t[0], x: Float32Array.from(x) }); return x.map((v) => c * v); };
    const D = (x: number, s: number) => (c * x) / Math.sqrt(s * s + 1);
    const shape = { n: 1, c: 1, h: 2, w: 2 };
    const euler = await eulerSample(net, sch, 'x0', shape, { steps: 2, clipX0: false, initialNoise: z });
    assert.deepEqual(calls.map((k) => k.t), [999, 0]);
    for (let k = 0; k < 4; k++) {
      const x0 = hi * z[k];
      assert.ok(Math.abs(calls[0].x[k] - x0 / Math.sqrt(hi * hi + 1)) < 1e-6, 'scaled input');
      const x1 = x0 + (lo - hi) * (x0 - D(x0, hi)) / hi;
      const x2 = x1 + (0 - lo) * (x1 - D(x1, lo)) / lo;
      assert.ok(Math.abs(euler[k] - x2) < 1e-5 * Math.max(1, Math.abs(x2)), `euler element ${k}: ${euler[k]} vs ${x2}`);
    }
    calls.length = 0;
    const heun = await heunSample(net, sch, 'x0', shape, { steps: 2, clipX0: false, initialNoise: z });
    assert.deepEqual(calls.map((k) => k.t), [999, 0, 0]);
    for (let k = 0; k < 4; k++) {
      const x0 = hi * z[k];
      const d = (x0 - D(x0, hi)) / hi;
      const xp = x0 + (lo - hi) * d;
      const x1 = x0 + (lo - hi) * (d / 2 + (xp - D(xp, lo)) / lo / 2);
      const x2 = D(x1, lo); // the Euler step to sigma = 0 lands on D
      assert.ok(Math.abs(heun[k] - x2) < 1e-5 * Math.max(1, Math.abs(x2)), `heun element ${k}: ${heun[k]} vs ${x2}`);
    }
  });

  const shape = { n: 2, c: 3, h: 4, w: 4 };
  const x0 = randomX0(2 * 48, 5);
  for (const [name, sample, calls] of SAMPLERS) {
    for (const prediction of ['eps', 'x0', 'v'] as Prediction[]) {
      for (const schedule of ['linear', 'cosine', 'scaled-linear'] as const) {
        it(`${name} reaches a point-mass x0 with an oracle in 10 steps (${prediction}, ${schedule}), ${calls(10)} network calls`, async () => {
          const s = makeSchedule({ schedule, prediction });
          const seen: StepInfo[] = [];
          const ts: number[] = [];
          const inner = oracle(x0, s, prediction);
          const d: Denoiser = (x, t) => { ts.push(t[0]); return inner(x, t); };
          const out = await sample(d, s, prediction, shape, { steps: 10, seed: 2, clipX0: false, onStep: (i) => { seen.push(i); } });
          assert.ok(maxAbsDiff(out, x0) < 1e-4, String(maxAbsDiff(out, x0)));
          assert.equal(ts.length, calls(10));
          assert.deepEqual(seen.map((i) => [i.step, i.total, i.t]), ts.map((t, i) => [i, calls(10), t]));
          assert.equal(ts[0], 999);
          assert.equal(ts[ts.length - 1], 0);
        });
      }
    }
  }

  // Data N(mu, s^2) per coordinate: D(x; sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu), and the ODE
  // dx/dsigma = (x - D) / sigma keeps (x - mu) / sqrt(s^2 + sigma^2) constant: the exact map from
  // sigma_max is closed-form. The network here is exact at the sigma of each call (the grid is
  // known), so only the solver's error remains. Compared at sigma_min (the last step to 0 is Euler
  // in both, a fixed O(sigma_min^2 / s^2) error): Euler's error must fall ~2x per doubling of
  // the steps, Heun's ~4x (measured 2026-11-26: Euler 0.35, 0.18, 0.092; Heun 0.31, 0.061, 0.014
  // at 10, 20, 40 steps, max over 64 coordinates with |x - mu| up to ~1.3).
  const mu = 0.3, sd = 0.5;
  const gaussianRun = async (name: string, steps: number, prediction: Prediction) => {
    const sch = makeSchedule({ prediction });
    const { sigmas } = karrasGrid(sch, steps, name);
    const callSigmas = name === 'euler'
      ? Array.from(sigmas.subarray(0, steps))
      : Array.from({ length: 2 * steps - 1 }, (_, j) => sigmas[Math.ceil(j / 2)]);
    let call = 0;
    const net: Denoiser = async (xt) => {
      const sigma = callSigmas[call++];
      const abar = 1 / (1 + sigma * sigma);
      return xt.map((v) => {
        const x = v / Math.sqrt(abar);
        const d0 = mu + (sd * sd / (sd * sd + sigma * sigma)) * (x - mu);
        const eps = (x - d0) / sigma;
        return prediction === 'x0' ? d0 : prediction === 'eps' ? eps : Math.sqrt(abar) * eps - Math.sqrt(1 - abar) * d0;
      });
    };
    const z = new Rng(11).normalArray(64);
    const hi = sigmas[0], lo = sigmas[steps - 1];
    let atMin: Float32Array | null = null;
    const lastBeforeZero = name === 'euler' ? steps - 2 : 2 * steps - 3;
    const opts: SamplerOptions = {
      steps, clipX0: false, initialNoise: z,
      onStep: ({ step, x }) => { if (step === lastBeforeZero) atMin = x.map((v) => v * Math.sqrt(lo * lo + 1)); },
    };
    const out = await runSampler(name as 'euler', net, sch, prediction, { n: 1, c: 1, h: 8, w: 8 }, opts);
    const exact = (s: number) => z.map((v) => mu + (Math.sqrt(sd * sd + s * s) / Math.sqrt(sd * sd + hi * hi)) * (hi * v - mu));
    return { errMin: maxAbsDiff(atMin!, exact(lo)), errOut: maxAbsDiff(out, exact(0)) };
  };
  for (const prediction of ['eps', 'x0', 'v'] as Prediction[]) {
    it(`on Gaussian data, euler is first order and heun second order against the exact ODE solution (${prediction})`, async () => {
      const e = [], h = [];
      for (const n of [10, 20, 40]) { e.push(await gaussianRun('euler', n, prediction)); h.push(await gaussianRun('heun', n, prediction)); }
      const em = e.map((r) => r.errMin), hm = h.map((r) => r.errMin);
      assert.ok(em[0] / em[1] > 1.6 && em[1] / em[2] > 1.6 && em[1] / em[2] < 2.6, `euler errors ${em.join(', ')}`);
      assert.ok(hm[0] / hm[1] > 3 && hm[1] / hm[2] > 3, `heun errors ${hm.join(', ')}`);
      assert.ok(hm[2] < em[2] / 5, `heun ${hm[2]} vs euler ${em[2]}`);
      assert.ok(h[2].errOut < 0.02, `heun 40 steps: ${h[2].errOut}`);
    });
  }
});

describe('samplers/euler and samplers/heun: image-to-image (SDEdit) through `init`', () => {
  const schedule = makeSchedule({});
  const shape = { n: 2, c: 1, h: 4, w: 4 };
  const image = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i) * 0.9);
  const net = (calls: { t: number; x: Float32Array }[]): Denoiser => async (x, t) => {
    calls.push({ t: t[0], x: Float32Array.from(x) });
    return x.map((v) => 0.5 * v);
  };
  for (const name of ['euler', 'heun'] as const) {
    it(`${name}: strength 0 returns the image without a call, 1 is the plain sample, 0.5 starts at image + sigma z below t = 500`, async () => {
      const zeroCalls: { t: number; x: Float32Array }[] = [];
      assert.deepEqual(await runSampler(name, net(zeroCalls), schedule, 'eps', shape, { steps: 8, seed: 5, init: { image, strength: 0 } }), image);
      assert.equal(zeroCalls.length, 0);
      const plain = await runSampler(name, net([]), schedule, 'eps', shape, { steps: 8, seed: 5 });
      assert.deepEqual(await runSampler(name, net([]), schedule, 'eps', shape, { steps: 8, seed: 5, init: { image, strength: 1 } }), plain);
      const calls: { t: number; x: Float32Array }[] = [];
      await runSampler(name, net(calls), schedule, 'eps', shape, { steps: 8, seed: 7, init: { image, strength: 0.5 } });
      const { sigmas, ts } = karrasGrid(schedule, 8, name);
      const first = Array.from(ts).findIndex((t) => t < 500);
      assert.ok(first > 0 && calls.every((c) => c.t < 500));
      assert.equal(calls[0].t, ts[first]);
      const s = sigmas[first];
      const z = new Rng(7).normalArray(32);
      for (let k = 0; k < 32; k++) assert.ok(Math.abs(calls[0].x[k] - (image[k] + s * z[k]) / Math.sqrt(s * s + 1)) < 1e-6, `element ${k}`);
    });
  }
});
