import assert from 'node:assert/strict';
import { makeSchedule } from '../../../src/diffusion/schedules';
import { ClassDenoiser, conditionalDenoiser, guidedDenoiser } from '../../../src/diffusion/samplers/guidance';
import { runSampler } from '../../../src/diffusion/samplers';

// A fake class-conditional network: its output depends on x, t and the class, per sample.
function fakeModel(batches: number[]): ClassDenoiser {
  return async (x, t, cls) => {
    batches.push(t.length);
    const per = x.length / t.length;
    const out = new Float32Array(x.length);
    for (let b = 0; b < t.length; b++) {
      for (let i = b * per; i < (b + 1) * per; i++) out[i] = 0.3 * x[i] + 0.1 * Number(cls[b]) - 0.2 + t[b] * 1e-4;
    }
    return out;
  };
}

describe('samplers/guidance', () => {
  const schedule = makeSchedule({});
  const shape = { n: 3, c: 1, h: 4, w: 4 };
  const classes = new Int32Array([2, 5, 7]);
  const NULL = 10;
  const opts = { steps: 8, seed: 21, eta: 0.5 };

  it('w = 0 equals the unconditional sampler, w = 1 the conditional one', async () => {
    const calls: number[] = [];
    const m = fakeModel(calls);
    const uncond = await runSampler('ddim', conditionalDenoiser(m, new Int32Array(3).fill(NULL)), schedule, 'eps', shape, opts);
    const cond = await runSampler('ddim', conditionalDenoiser(m, classes), schedule, 'eps', shape, opts);
    const g0 = await runSampler('ddim', guidedDenoiser(m, classes, NULL, 0), schedule, 'eps', shape, opts);
    const g1 = await runSampler('ddim', guidedDenoiser(m, classes, NULL, 1), schedule, 'eps', shape, opts);
    assert.deepEqual(g0, uncond);
    assert.deepEqual(g1, cond);
    assert.notDeepEqual(cond, uncond);
  });

  it('w = 3 runs one batch of 2n and returns uncond + w (cond - uncond)', async () => {
    const calls: number[] = [];
    const m = fakeModel(calls);
    const x = new Float32Array(48).map((_, i) => Math.sin(i));
    const t = new Int32Array([400, 400, 400]);
    const out = await guidedDenoiser(m, classes, NULL, 3)(x, t);
    assert.deepEqual(calls, [6]);
    const c = await conditionalDenoiser(m, classes)(x, t);
    const u = await conditionalDenoiser(m, new Int32Array(3).fill(NULL))(x, t);
    for (let i = 0; i < 48; i++) assert.ok(Math.abs(out[i] - (u[i] + 3 * (c[i] - u[i]))) < 1e-6);
  });

  it('passes classes then null classes, x and t twice, in one call', async () => {
    let seen: { x: Float32Array; t: Int32Array; cls: Int32Array | BigInt64Array } | null = null;
    const m: ClassDenoiser = async (x, t, cls) => {
      seen = { x, t, cls };
      return new Float32Array(x.length);
    };
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    await guidedDenoiser(m, new Int32Array([4, 9]), 10, 7.5)(x, new Int32Array([3, 3]));
    assert.ok(seen !== null);
    const got = seen as { x: Float32Array; t: Int32Array; cls: Int32Array };
    assert.deepEqual([...got.x], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...got.t], [3, 3, 3, 3]);
    assert.deepEqual([...got.cls], [4, 9, 10, 10]);
  });

  it('rejects a class list that does not match the batch', async () => {
    await assert.rejects(guidedDenoiser(fakeModel([]), new Int32Array([1]), 10, 2)(new Float32Array(4), new Int32Array([0, 0])),
      /guidance: 1 classes for a batch of 2/);
  });
});
