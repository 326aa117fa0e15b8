import { strict as assert } from 'node:assert';
import { FORMAT, type DiffusionKind, type ModelConfig } from '../../src/core/model-config';
import { generator } from '../../src/diffusion/image-pipeline';
import { ensembleModel } from '../../src/diffusion/cascades';
import type { Extras, SamplerModel } from '../../src/diffusion/sampler';
import { coldDegrade } from '../../src/diffusion/samplers';
import { toyCorrupt } from '../../src/diffusion/samplers/toy';
import { Rng } from '../../src/core/rng';

const SIZE = 4;
const PER = SIZE * SIZE;

/**
 * A deterministic stand-in network for every model kind (its output depends on x, t and the
 * conditioning), recording the timesteps it was called at. The pipeline treats it as it treats an
 * ONNX model: only `config` and `run` are used.
 */
function fakeModel(kind: DiffusionKind, conditioning: ModelConfig['conditioning'] = {}, T = 20): SamplerModel & { ts: number[] } {
  const config: ModelConfig = {
    format: FORMAT, kind, image: { channels: 1, size: SIZE }, conditioning,
    diffusion: { timesteps: T, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.2, prediction: kind === 'gaussian' ? 'eps' : 'x0' },
  };
  const ts: number[] = [];
  return {
    config, ts,
    async run(x: Float32Array, t: Int32Array, e: Extras = {}) {
      ts.push(t[0]);
      const per = x.length / t.length;
      return x.map((v, i) => {
        const n = Math.floor(i / per);
        return 0.5 * v + 0.02 * t[n] / T - 0.3 * Math.cos(i) + 0.05 * (e.class?.[n] ?? 0) + 0.1 * (e.cond?.[i % per] ?? 0);
      });
    },
  };
}

const image = Float32Array.from({ length: PER }, (_, i) => Math.sin(i) * 0.8);

/** Every kind pipeline() can be handed, with the options it needs besides the image. */
const KINDS: { name: string; model: () => SamplerModel; extra: object }[] = [
  { name: 'gaussian (unconditional)', model: () => fakeModel('gaussian'), extra: { sampler: 'ddim' } },
  { name: 'gaussian, class-conditional with guidance', model: () => fakeModel('gaussian', { classes: 3 }), extra: { classes: [2, 0], guidance: 3 } },
  { name: 'gaussian super-resolution stage (a cascade stage: cond image)', model: () => fakeModel('gaussian', { condChannels: 1, lowResSize: 2 }), extra: { cond: image } },
  {
    name: 'gaussian ensemble of timestep experts',
    model: () => ensembleModel([fakeModel('gaussian', {}), fakeModel('gaussian', {})], [[0, 9], [10, 19]]),
    extra: { sampler: 'dpm++2m' },
  },
  { name: 'toy (x0 by the course\'s corruption)', model: () => fakeModel('toy', {}, 1000), extra: {} },
  { name: 'cold-blur', model: () => fakeModel('cold-blur'), extra: {} },
];
/** `steps: 5`, except for cold-blur models: they restore all T levels and refuse `steps` by name. */
const stepsFor = (name: string) => (name === 'cold-blur' ? {} : { steps: 5 });

describe('generator(): SDEdit (image + strength) on every model kind', () => {
  for (const { name, model, extra } of KINDS) {
    it(`${name}: strength 0 returns the input, strength 1 equals the plain sample, 0.5 changes it`, async () => {
      const gen = generator(model());
      const steps = stepsFor(name);
      const zero = await gen({ ...extra, n: 2, seed: 3, ...steps, image, strength: 0 });
      assert.deepEqual(zero.images, Float32Array.from([...image, ...image]));
      const plain = await gen({ ...extra, n: 2, seed: 3, ...steps });
      const one = await gen({ ...extra, n: 2, seed: 3, ...steps, image, strength: 1 });
      assert.deepEqual(one.images, plain.images);
      const half = await gen({ ...extra, n: 2, seed: 3, ...steps, image, strength: 0.5 });
      assert.notDeepEqual(half.images, plain.images);
      assert.notDeepEqual(half.images, zero.images);
    });
  }

  it('toy: strength 0.6 of 5 steps starts at amount 0.6 from (1 - 0.6) image + 0.6 x_K and runs the last 3 steps', async () => {
    const m = fakeModel('toy', {}, 1000);
    const first: Float32Array[] = [];
    await generator(m)({ n: 1, seed: 4, steps: 5, image, strength: 0.6, onStep: ({ step, x }) => { if (step === 0) first.push(x); } });
    assert.deepEqual(m.ts, [599, 400, 200]);
    // the toy sampler's uniform x_K, the Rng's first draws
    const rng = new Rng(4);
    const z = Float32Array.from({ length: PER }, () => rng.uniform());
    const x = toyCorrupt(image, z, [0.6]);
    const out = await fakeModel('toy', {}, 1000).run(x, new Int32Array([599]));
    // step 2 of 5 moves 1/3 of the way to the prediction
    assert.deepEqual(first[0], x.map((v, i) => v * (1 - 1 / 3) + out[i] / 3));
  });

  it('toy: latents are its x_K (uniform draws of the seed reproduce the seeded sample)', async () => {
    const gen = generator(fakeModel('toy', {}, 1000));
    const plain = await gen({ n: 2, seed: 8, steps: 4 });
    const rng = new Rng(8);
    const same = await gen({ n: 2, seed: 8, steps: 4, latents: Float32Array.from({ length: 2 * PER }, () => rng.uniform()) });
    assert.deepEqual(same.images, plain.images);
  });

  it('cold-blur: strength 0.5 restores levels 10..1 starting from the input blurred to level 10', async () => {
    const m = fakeModel('cold-blur');
    const seen: number[] = [];
    const starts: Float32Array[] = [];
    const probe: SamplerModel = { config: m.config, run: (x, t, e) => { if (seen.length === 0) starts.push(Float32Array.from(x)); seen.push(t[0]); return m.run(x, t, e); } };
    await generator(probe)({ n: 1, image, strength: 0.5 });
    assert.deepEqual(seen, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(starts[0], coldDegrade(image, 10, { timesteps: 20, blurStd: 0.1, c: 1, h: SIZE, w: SIZE }));
  });

  it('rejects what has no meaning, in library terms', async () => {
    await assert.rejects(generator(fakeModel('cold-blur'))({ latents: new Float32Array(PER) }),
      /^OptionError: latents applies to gaussian and toy models; a cold-blur model starts from flat images \(give `image` and `strength` to start from your own\)$/);
    for (const kind of ['gaussian', 'toy', 'cold-blur'] as const) {
      await assert.rejects(generator(fakeModel(kind))({ steps: 5, image, strength: 1.5 }), /^OptionError: strength must be in \[0, 1\], got 1\.5$/);
      await assert.rejects(generator(fakeModel(kind))({ strength: 0.5 }), /^OptionError: strength needs an image to start from$/);
    }
  });
});
