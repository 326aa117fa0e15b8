import { strict as assert } from 'node:assert';
import { FORMAT, ModelConfig } from '../../src/core/model-config';
import { createSampler, Extras, SamplerModel } from '../../src/diffusion/sampler';

/** A fake eps-model whose output depends on x, t and the conditioning, recording every call. */
function fakeModel(conditioning: ModelConfig['conditioning']): SamplerModel & { calls: Extras[] } {
  const config: ModelConfig = {
    format: FORMAT, kind: 'gaussian', image: { channels: 1, size: 2 },
    diffusion: { timesteps: 50, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'eps' }, conditioning,
  };
  const calls: Extras[] = [];
  return {
    config,
    calls,
    async run(x, t, e = {}) {
      calls.push(e);
      const per = x.length / t.length;
      return x.map((v, i) => {
        const n = Math.floor(i / per);
        const lab = e.labels ? e.labels.slice(n * 3, n * 3 + 3).reduce((s, l, k) => s + l * (k + 1), 0) : 0;
        const cls = e.class ? e.class[n] : 0;
        return 0.1 * v + 0.01 * t[n] / 50 + 0.05 * lab + 0.03 * cls;
      });
    },
  };
}

describe('createSampler conditioning', () => {
  it('label guidance: w = 0 equals the all-zero (null) labels, w = 1 the labels, w = 3 one batch of 2n per step', async () => {
    const opts = { sampler: 'ddim', steps: 5, seed: 4 } as const;
    const run = (labels: number[], guidance?: number) => createSampler(fakeModel({ labels: 3 }), { ...opts, labels, guidance }).sample(2);
    const uncond = await run([0, 0, 0]);
    const cond = await run([1, 0, 1]);
    assert.deepEqual((await run([1, 0, 1], 0)).images, uncond.images);
    assert.deepEqual((await run([1, 0, 1], 1)).images, cond.images);
    const m = fakeModel({ labels: 3 });
    const guided = await createSampler(m, { ...opts, labels: [1, 0, 1], guidance: 3 }).sample(2);
    assert.notDeepEqual(guided.images, cond.images);
    assert.equal(m.calls.length, 5);
    assert.deepEqual(Array.from(m.calls[0].labels!), [1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('class guidance uses the null class (id = classes) for the unconditional half', async () => {
    const m = fakeModel({ classes: 4 });
    await createSampler(m, { sampler: 'ddim', steps: 2, classes: [1, 3], guidance: 2 }).sample(2);
    assert.deepEqual(Array.from(m.calls[0].class!), [1, 3, 4, 4]);
  });

  it('rejects guidance and classes for an unconditional model', () => {
    assert.throws(() => createSampler(fakeModel({}), { guidance: 2 }), /^OptionError: guidance needs a conditional model \(classes, labels or conditioning inputs\)/);
    assert.throws(() => createSampler(fakeModel({}), { classes: 1 }), /^OptionError: classes given but the model is not class-conditional$/);
  });
});
