import { strict as assert } from 'node:assert';
import { FORMAT, ModelConfig } from '../../src/core/model-config';
import { DiffusionConfig } from '../../src/core/diffusion-config';
import { Rng } from '../../src/core/rng';
import { createSampler } from '../../src/diffusion/sampler';
import { qSample } from '../../src/diffusion/objectives';
import { makeSchedule } from '../../src/diffusion/schedules';
import {
  ColdScheduler, coldDegrade, DdimModelScheduler, DdpmScheduler, denoise, EulerScheduler, HeunScheduler, karrasGrid, toyCorrupt, ToyScheduler,
} from '../../src/diffusion/samplers';
import {
  createScheduler, DiffusersDdpmScheduler, modelScheduler, registerScheduler, schedulerNames, unregisterScheduler, type ModelScheduler, type StartOptions,
} from '../../src/diffusion/schedulers';
import type { SampleShape } from '../../src/diffusion/samplers/types';
import { closedFormModel } from './scheduler-golden';

function model(kind: ModelConfig['kind'], diffusion: Partial<DiffusionConfig> = {}): ModelConfig {
  return {
    format: FORMAT, kind, image: { channels: 1, size: 2 },
    diffusion: { timesteps: 20, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'eps', ...diffusion }, conditioning: {},
  };
}

/**
 * A user's scheduler, written here against the interface only: k steps at t = k-1, ..., 0,
 * x_T = N(0, I) from the seed, the network fed 2x, and each step halves x and adds the output:
 * x <- x / 2 + out. With a network that returns c everywhere, x_k = z / 2^k + 2c (1 - 2^-k).
 */
class HalvingScheduler implements ModelScheduler {
  readonly name = 'halving';
  readonly kinds = ['gaussian'] as const;
  readonly order = 1;
  readonly defaultSteps = 3;
  readonly initNoiseSigma = 1;
  readonly trainTimesteps: number;
  timesteps = new Float64Array(0);
  predOriginalSample: Float32Array | undefined;

  constructor(config: ModelConfig) {
    this.trainTimesteps = config.diffusion.timesteps;
  }

  setTimesteps(steps: number): void {
    this.timesteps = Float64Array.from({ length: steps }, (_, i) => steps - 1 - i);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample.map((v) => 2 * v);
  }

  step(out: Float32Array, _t: number, x: Float32Array): Float32Array {
    this.predOriginalSample = out;
    return x.map((v, k) => v / 2 + out[k]);
  }

  addNoise(x0: Float32Array, noise: Float32Array): Float32Array {
    return x0.map((v, k) => v + noise[k]);
  }

  start(rng: Rng, shape: SampleShape, from: StartOptions = {}): { x: Float32Array; begin: number } {
    return { x: from.initialNoise ?? rng.normalArray(shape.n * shape.c * shape.h * shape.w), begin: 0 };
  }
}

describe('scheduler objects: one registry, one loop', () => {
  before(() => {
    registerScheduler('halving', { kinds: ['gaussian'], fromModel: (config) => new HalvingScheduler(config), options: ['steps'] });
  });
  after(() => unregisterScheduler('halving'));

  it("createSampler runs a user's registered scheduler through the one loop (closed form)", async () => {
    const c = 0.25;
    const calls: { x: Float32Array; t: number }[] = [];
    const m = {
      config: model('gaussian'),
      async run(x: Float32Array, t: Int32Array) {
        calls.push({ x, t: t[0] });
        return new Float32Array(x.length).fill(c);
      },
    };
    const steps: number[] = [];
    const r = await createSampler(m, { sampler: 'halving', steps: 4, seed: 7 }).sample(2, { onStep: (i) => { steps.push(i.step); } });
    const z = new Rng(7).normalArray(8);
    // x_k = z / 2^k + 2c (1 - 2^-k); every operation here is exact in float32 for these values
    const want = z.map((v) => v / 16 + 2 * c * (1 - 1 / 16));
    assert.ok(r.images.every((v, k) => Math.abs(v - want[k]) < 1e-6), 'x_4 = z / 16 + 2c (15/16)');
    assert.deepEqual(calls.map((s) => s.t), [3, 2, 1, 0]);
    assert.deepEqual(Array.from(calls[0].x), Array.from(z.map((v) => 2 * v)), 'scaleModelInput feeds 2 x_T');
    assert.deepEqual(steps, [0, 1, 2, 3]);
    assert.ok(schedulerNames('gaussian').includes('halving') && !schedulerNames('toy').includes('halving'));
  });

  it("a function registered under a built-in name replaces its scheduler_config.json maker only", async () => {
    const before = await createSampler(closedFormModel(model('gaussian')), { sampler: 'ddpm', steps: 4 }).sample(1);
    const made: string[] = [];
    registerScheduler('ddpm', (json, source) => {
      made.push(source);
      return createScheduler(json, source, 'ddim');
    });
    try {
      const after = await createSampler(closedFormModel(model('gaussian')), { sampler: 'ddpm', steps: 4 }).sample(1);
      assert.deepEqual(after.images, before.images, "the project's DDPM still samples the model");
      assert.equal(createScheduler({ _class_name: 'DDIMScheduler' }, 'x.json', 'ddpm').name, 'ddim');
      assert.deepEqual(made, ['x.json']);
    } finally {
      registerScheduler('ddpm', {
        fromModel: (c, s) => DdpmScheduler.fromConfig(c, s), fromConfig: (j, s) => DiffusersDdpmScheduler.fromConfig(j, s),
        options: ['steps', 'spacing', 'variance', 'clipX0'],
      });
    }
  });

  it('refuses a scheduler that does not apply to the model kind, by name, both ways', () => {
    const sample = (kind: ModelConfig['kind'], sampler: string) => () => createSampler(closedFormModel(model(kind)), { sampler });
    assert.throws(sample('toy', 'ddim'), /^OptionError: sampler "ddim" does not apply to a toy model \(use toy\)$/);
    assert.throws(sample('cold-blur', 'heun'), /^OptionError: sampler "heun" does not apply to a cold-blur model \(use cold\)$/);
    assert.throws(sample('toy', 'halving'), /^OptionError: sampler "halving" does not apply to a toy model \(use toy\)$/);
    assert.throws(sample('gaussian', 'toy'),
      /^OptionError: sampler "toy" does not apply to a gaussian model \(use one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun\|halving\)$/);
    assert.throws(sample('gaussian', 'cold'), /^OptionError: sampler "cold" does not apply to a gaussian model/);
    // diffusers-parity schedulers are for scheduler_config.json folders; the project's ddpm/heun/toy are not
    assert.throws(sample('gaussian', 'pndm'), /^OptionError: sampler "pndm" does not apply to a gaussian model/);
    assert.throws(sample('gaussian', 'lms'), /^OptionError: sampler "lms" does not apply to a gaussian model/);
    assert.throws(sample('gaussian', 'plms'), /^OptionError: sampler must be one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun\|halving, got "plms"$/);
    assert.throws(sample('gaussian', 'ddmi'), /^OptionError: sampler must be one of .*, got "ddmi"; did you mean `ddim`\?$/);
    assert.throws(() => createScheduler({ _class_name: 'DDIMScheduler' }, 'x/scheduler_config.json', 'toy'),
      /^OptionError: sampler "toy" does not apply to a diffusers scheduler_config\.json \(x\/scheduler_config\.json\) \(expected one of ddpm\|ddim\|/);
  });

  it('refuses a setting the scheduler does not take, by name, and checks values once at createSampler', () => {
    const make = (kind: ModelConfig['kind'], o: object) => () => createSampler(closedFormModel(model(kind)), o);
    assert.throws(make('toy', { eta: 0.5 }), /^OptionError: eta applies to the ddim sampler only \(not toy\)$/);
    assert.throws(make('toy', { spacing: 'trailing' }), /^OptionError: spacing applies to the ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde samplers only \(not toy\)$/);
    assert.throws(make('cold-blur', { steps: 4 }), /^OptionError: steps does not apply to cold \(it restores all T levels\)$/);
    assert.throws(make('gaussian', { sampler: 'heun', spacing: 'leading' }),
      /^OptionError: spacing does not apply to heun \(it steps on the Karras sigma grid\)$/);
    assert.throws(make('gaussian', { sampler: 'ddim', variance: 'beta' }), /^OptionError: variance applies to the ddpm sampler only \(not ddim\)$/);
    assert.throws(make('gaussian', { sampler: 'halving', eta: 0 }), /^OptionError: eta applies to the ddim sampler only \(not halving\)$/);
    assert.throws(make('gaussian', { eta: 2 }), /^OptionError: eta must be in \[0, 1\], got 2$/);
    assert.throws(make('gaussian', { sampler: 'ddpm', variance: 'big' }), /^OptionError: variance must be one of beta\|posterior, got "big"$/);
    assert.throws(make('gaussian', { spacing: 'even' }), /^OptionError: spacing must be one of leading\|trailing\|linspace, got "even"$/);
    assert.throws(make('gaussian', { steps: 21 }), /^OptionError: steps must be an integer in \[1, 20\] for ddim, got 21$/);
    assert.throws(make('gaussian', { sampler: 'euler', steps: 0 }), /^OptionError: steps must be an integer in \[1, 20\] for euler, got 0$/);
    assert.throws(make('toy', { steps: 1.5 }), /^OptionError: steps must be a positive integer for toy, got 1\.5$/);
    // a diffusers clip_sample_range other than 1 is the config's error, unless clipping is off
    const clipHalf = closedFormModel(model('gaussian', { clipSample: 0.5 }));
    assert.throws(() => createSampler(clipHalf, { sampler: 'euler', steps: 5 }),
      /^ConfigError: diffusion\.clipSample: 0\.5: the samplers clamp x0 to \[-1, 1\] only \(clip_sample_range 1\), or not at all \(clipX0: false\)$/);
    createSampler(clipHalf, { sampler: 'euler', steps: 5, clipX0: false });
  });

  it('addNoise is the kind\'s forward process: q(x_t | x_0), the toy mix, the blur, x0 + sigma z on the Karras grid', () => {
    const x0 = Float32Array.from([0.5, -0.25, 1, 0]);
    const z = Float32Array.from([1, 2, -1, 0.5]);
    const g = model('gaussian');
    const abar = makeSchedule(g.diffusion).alphasCumprod;
    assert.deepEqual(DdimModelScheduler.fromConfig(g).addNoise(x0, z, 7), qSample(x0, z, [abar[7]]));
    assert.deepEqual(DdpmScheduler.fromConfig(g).addNoise(x0, z, 19), qSample(x0, z, [abar[19]]));
    assert.deepEqual(ToyScheduler.fromConfig(model('toy')).addNoise(x0, z, 19), toyCorrupt(x0, z, [1]));
    const cold = model('cold-blur');
    assert.deepEqual(ColdScheduler.fromConfig(cold).addNoise(x0, z, 3), coldDegrade(x0, 3, { timesteps: 20, blurStd: 0.1, c: 1, h: 2, w: 2 }));
    const e = EulerScheduler.fromConfig(g);
    e.setTimesteps(5);
    const { sigmas, ts } = karrasGrid(makeSchedule(g.diffusion), 5, 'euler');
    const s = sigmas[2];
    assert.deepEqual(e.addNoise(x0, z, ts[2]), x0.map((v, k) => Math.fround(v + s * z[k]) * (1 / Math.sqrt(s * s + 1))));
  });

  it('heun is order 2 and lists its 2n - 1 network calls; cold lists all T levels', () => {
    const h = HeunScheduler.fromConfig(model('gaussian'));
    h.setTimesteps(4);
    assert.equal(h.order, 2);
    assert.equal(h.timesteps.length, 7);
    const c = ColdScheduler.fromConfig(model('cold-blur'));
    c.setTimesteps(c.defaultSteps);
    assert.deepEqual(Array.from(c.timesteps), Array.from({ length: 20 }, (_, i) => 20 - i));
  });

  it('each batch gets its own scheduler: concurrent sample() calls equal sequential ones', async () => {
    const s = createSampler(closedFormModel(model('gaussian')), { sampler: 'dpm++2m-sde', steps: 6, seed: 3, batch: 1 });
    const one = await s.sample(2);
    const [a, b] = await Promise.all([s.sample(2), s.sample(2)]);
    assert.deepEqual(a.images, one.images);
    assert.deepEqual(b.images, one.images);
  });

  it('a scheduler driven by hand (setTimesteps, start, scaleModelInput, step) equals the loop', async () => {
    const config = model('gaussian', { prediction: 'v' });
    const net = closedFormModel(config);
    const shape = { n: 1, c: 1, h: 2, w: 2 };
    const viaLoop = await denoise(modelScheduler(config, 'ddim', { eta: 0.3 }), (x, t) => net.run(x, t), shape, { steps: 5, seed: 2 });
    const s = modelScheduler(config, 'ddim', { eta: 0.3 });
    const rng = new Rng(2);
    s.setTimesteps(5);
    let { x } = s.start(rng, shape);
    for (const t of s.timesteps) x = s.step(await net.run(s.scaleModelInput(x, t), Int32Array.of(t)), t, x, rng);
    assert.deepEqual(x, viaLoop);
  });
});
