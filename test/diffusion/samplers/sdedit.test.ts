import assert from 'node:assert/strict';
import { Rng } from '../../../src/core/rng';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { makeTimesteps, runSampler, SamplerName } from '../../../src/diffusion/samplers';
import { Denoiser } from '../../../src/diffusion/samplers/types';

// A deterministic stand-in for a network that records what it was called with.
function recordingNet(): { net: Denoiser; calls: { x: Float32Array; t: number }[] } {
  const calls: { x: Float32Array; t: number }[] = [];
  const net: Denoiser = async (x, t) => {
    calls.push({ x: Float32Array.from(x), t: t[0] });
    return x.map((v, i) => 0.5 * v + 0.01 * Math.cos(i + t[0] / 100));
  };
  return { net, calls };
}

describe('samplers: image-to-image (SDEdit) through `init`', () => {
  const schedule = makeSchedule({});
  const shape = { n: 2, c: 1, h: 4, w: 4 };
  const size = 32;
  const image = Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 0.9);
  const cases: [SamplerName, { steps: number }][] = [['ddpm', { steps: 20 }], ['ddim', { steps: 10 }], ['dpm++2m', { steps: 10 }]];

  for (const [name, extra] of cases) {
    it(`${name}: strength 0 returns the input without a network call, strength 1 is the plain sample`, async () => {
      const r0 = recordingNet();
      const zero = await runSampler(name, r0.net, schedule, 'eps', shape, { ...extra, seed: 5, init: { image, strength: 0 } });
      assert.deepEqual(zero, image);
      assert.equal(r0.calls.length, 0);
      const plain = await runSampler(name, recordingNet().net, schedule, 'eps', shape, { ...extra, seed: 5 });
      const one = await runSampler(name, recordingNet().net, schedule, 'eps', shape, { ...extra, seed: 5, init: { image, strength: 1 } });
      assert.deepEqual(one, plain);
    });

    it(`${name}: strength 0.5 visits only timesteps below round(0.5 T), from q(x_t | image) with the seed's first normals`, async () => {
      const { net, calls } = recordingNet();
      await runSampler(name, net, schedule, 'eps', shape, { ...extra, seed: 7, init: { image, strength: 0.5 } });
      const spacing = name === 'dpm++2m' ? 'trailing' : 'leading';
      const expected = Array.from(makeTimesteps(1000, extra.steps, spacing)).filter((t) => t < 500);
      assert.deepEqual(calls.map((c) => c.t), expected);
      // Ho et al. eq. 4 with z the first `size` normals of Rng(seed), as x_T would be
      const z = new Rng(7).normalArray(size);
      const abar = schedule.alphasCumprod[expected[0]];
      const x = image.map((v, k) => Math.sqrt(abar) * v + Math.sqrt(1 - abar) * z[k]);
      for (let k = 0; k < size; k++) assert.ok(Math.abs(calls[0].x[k] - x[k]) < 1e-6, `element ${k}`);
    });
  }

  it('rejects a strength outside [0, 1] and an image of the wrong size in one line', async () => {
    const net = recordingNet().net;
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', shape, { init: { image, strength: 1.5 } }),
      /^OptionError: strength must be in \[0, 1\], got 1\.5$/);
    await assert.rejects(runSampler('ddim', net, schedule, 'eps', shape, { init: { image: image.slice(1), strength: 0.5 } }),
      /^OptionError: image must have 32 values, got 31$/);
  });
});
