import assert from 'node:assert/strict';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { runSampler, SamplerName } from '../../../src/diffusion/samplers';
import { Denoiser } from '../../../src/diffusion/samplers/types';

// A deterministic stand-in for a network.
const net: Denoiser = async (x, t) => x.map((v, i) => 0.5 * v + 0.01 * Math.cos(i + t[0] / 100));

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('samplers: reproducibility and validation', () => {
  const schedule = makeSchedule({});
  const shape = { n: 2, c: 3, h: 5, w: 5 };
  const cases: [SamplerName, object][] = [
    ['ddpm', { steps: 30 }], ['ddim', { steps: 10, eta: 1 }], ['dpm++2m', { steps: 10 }], ['dpm++2m-sde', { steps: 10 }], ['euler', { steps: 10 }], ['heun', { steps: 6 }],
  ];

  for (const [name, extra] of cases) {
    it(`${name}: same seed gives identical bytes, another seed different ones`, async () => {
      const a = await runSampler(name, net, schedule, 'eps', shape, { ...extra, seed: 123 });
      const b = await runSampler(name, net, schedule, 'eps', shape, { ...extra, seed: 123 });
      const c = await runSampler(name, net, schedule, 'eps', shape, { ...extra, seed: 124 });
      assert.ok(bytes(a).equals(bytes(b)));
      assert.ok(!bytes(a).equals(bytes(c)));
      for (const v of a) assert.ok(Number.isFinite(v));
    });
  }

  it('initialNoise replaces the x_T draw and is not modified', async () => {
    const x = new Float32Array(150).fill(0.25);
    const copy = Float32Array.from(x);
    const a = await runSampler('dpm++2m', net, schedule, 'eps', shape, { steps: 5, seed: 1, initialNoise: x });
    const b = await runSampler('dpm++2m', net, schedule, 'eps', shape, { steps: 5, seed: 2, initialNoise: x });
    assert.deepEqual(a, b, 'dpm++2m draws nothing but x_T');
    const c = await runSampler('dpm++2m-sde', net, schedule, 'eps', shape, { steps: 5, seed: 1, initialNoise: x });
    const d = await runSampler('dpm++2m-sde', net, schedule, 'eps', shape, { steps: 5, seed: 2, initialNoise: x });
    assert.ok(!bytes(c).equals(bytes(d)), 'dpm++2m-sde draws noise at each step');
    assert.deepEqual(x, copy);
  });

  it('reports each step and stops with an AbortError (DOMException) when aborted', async () => {
    const ctrl = new AbortController();
    const seen: number[] = [];
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', shape, {
      steps: 10, signal: ctrl.signal,
      onStep: ({ step, total }) => { seen.push(step); assert.equal(total, 10); if (step === 2) ctrl.abort(); },
    }), (e: unknown) => e instanceof DOMException && e.name === 'AbortError' && e.message === 'sampling cancelled');
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it('rejects an unknown sampler, steps > T, and eta out of range in one line', async () => {
    await assert.rejects(runSampler('plms' as SamplerName, net, schedule, 'eps', shape),
      /^OptionError: sampler must be one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun, got "plms"$/);
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', shape, { steps: 1001 }),
      /^OptionError: steps must be an integer in \[1, 1000\] for ddim, got 1001$/);
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', shape, { eta: 1.5 }), /^OptionError: eta must be in \[0, 1\], got 1\.5$/);
    await assert.rejects(runSampler('dpm++2m', net, schedule, 'eps', shape, { eta: 0.5 }),
      /^OptionError: eta applies to the ddim sampler only \(not dpm\+\+2m\)$/);
    await assert.rejects(runSampler('heun', net, schedule, 'eps', shape, { spacing: 'trailing' }),
      /^OptionError: spacing does not apply to heun \(it steps on the Karras sigma grid\)$/);
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', { n: 0, c: 1, h: 2, w: 2 }), /sample shape: n must be a positive integer/);
    const bad: Denoiser = async () => new Float32Array(3);
    await assert.rejects(runSampler('ddim', bad, schedule, 'eps', shape, { steps: 2 }), /denoiser output: expected 150 elements, got 3/);
  });
});
