/**
 * Each scheduler against diffusers 0.27.2's class of the same name on the tiny-sd scheduler config
 * (SD 1.5's betas, steps_offset 1, leading spacing), driven by the closed-form "model" that
 * tools/sd-scheduler-refs.py also uses, from the fixture's latents_init, for 4 and 10 steps:
 * every step's latents to 1e-4. The stochastic ones (Euler ancestral, DDPM, DPM-Solver++ SDE) get
 * the script's saved noise draws in the order diffusers' step() asks for them.
 */
import { runTimesteps } from '../../../src/diffusion/samplers/loop';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../../../src/data/npy';
import {
  alphasCumprod32, createScheduler, registerScheduler, schedulerNames, DdimScheduler, type NoiseSource, type Scheduler,
} from '../../../src/diffusion/schedulers';
import { diffusionConfigFromScheduler } from '../../../src/core/diffusers-config';
import { ConfigError, OptionError } from '../../../src/core/errors';
import { maxAbsDiff } from '../../helpers/close';

const FIX = path.join(__dirname, '..', '..', 'fixtures');
const REFS = path.join(FIX, 'schedulers');
const CONFIG_FILE = path.join(FIX, 'tiny-sd', 'scheduler', 'scheduler_config.json');
const CONFIG = JSON.parse(fs.readFileSync(CONFIG_FILE, 'utf8'));
const npy = (file: string) => npyToFloat32(decodeNpy(fs.readFileSync(file), file));
const LATENTS = npy(path.join(FIX, 'tiny-sd', 'reference', 'latents_init.npy'));
const PER = LATENTS.length;
type Ref = { timesteps: number[]; init_noise_sigma: number; add_noise_t: number };
const refs = JSON.parse(fs.readFileSync(path.join(REFS, 'refs.json'), 'utf8')).cases as Record<string, Ref>;

/** The script's model: eps(x, t) = 0.5 tanh(x) + 0.01 t / 1000, in float64, stored as float32. */
const model = (x: Float32Array, t: number) => x.map((v) => 0.5 * Math.tanh(v) + (0.01 * t) / 1000);

/** Hands out the saved draws in order, as the script's randn_tensor stand-in does. */
function fixedNoise(draws: Float32Array): NoiseSource {
  let i = 0;
  return { normalArray: (n: number) => draws.slice(i * n, ++i * n) };
}

/** Every step's latents, through the loop body the project's samplers share (samplers/loop.ts runTimesteps). */
async function run(s: Scheduler, steps: number, noise: NoiseSource): Promise<Float32Array[]> {
  s.setTimesteps(steps);
  const out: Float32Array[] = [];
  const x = LATENTS.map((v) => v * s.initNoiseSigma);
  await runTimesteps(s, x, s.timesteps, async (input, t) => model(input, t), noise, { report: (_i, _t, xi) => { out.push(xi); } });
  return out;
}

const NAMES = [
  'ddim', 'euler', 'euler-karras', 'euler-ancestral', 'dpm++2m', 'dpm++2m-karras', 'pndm', 'ddpm', 'heun', 'dpm++2m-sde', 'dpm++2m-sde-karras', 'lms',
];

describe('diffusers-parity schedulers', () => {
  it('alphas_cumprod equals diffusers\' float32 table to 3e-7 relative', () => {
    const ref = npy(path.join(FIX, 'tiny-sd', 'reference', 'alphas_cumprod.npy'));
    const ours = alphasCumprod32(diffusionConfigFromScheduler(CONFIG, 'scheduler_config.json'));
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / ref[i]);
    assert.ok(worst < 3e-7, `relative difference ${worst}`);
  });

  for (const name of NAMES) {
    for (const steps of [4, 10]) {
      it(`${name}, ${steps} steps: timesteps, init sigma and every step's latents match diffusers to 1e-4`, async () => {
        const ref = refs[`${name}-${steps}`];
        const s = createScheduler(CONFIG, 'scheduler_config.json', name);
        const noise = fixedNoise(npy(path.join(REFS, `noise-${steps}.npy`)));
        const got = await run(s, steps, noise);
        s.timesteps.forEach((t, i) => assert.ok(Math.abs(t - ref.timesteps[i]) < 2e-3, `timestep ${i}: ${t} vs ${ref.timesteps[i]}`));
        assert.equal(s.timesteps.length, ref.timesteps.length);
        assert.ok(Math.abs(s.initNoiseSigma - ref.init_noise_sigma) < 1e-5, `init sigma ${s.initNoiseSigma} vs ${ref.init_noise_sigma}`);
        const want = npy(path.join(REFS, `${name}-${steps}.npy`));
        assert.equal(got.length * PER, want.length);
        got.forEach((x, i) => {
          const d = maxAbsDiff(x, want.subarray(i * PER, (i + 1) * PER));
          assert.ok(d < 1e-4, `step ${i}: max |diff| ${d}`);
        });
      });
    }
    it(`${name}: addNoise at the second timestep matches diffusers' add_noise`, () => {
      const s = createScheduler(CONFIG, 'scheduler_config.json', name);
      s.setTimesteps(10);
      const noise = npy(path.join(REFS, 'noise-10.npy')).subarray(0, PER);
      const d = maxAbsDiff(s.addNoise(LATENTS, noise, s.timesteps[1]), npy(path.join(REFS, `${name}-10-add-noise.npy`)));
      assert.ok(d < 1e-4, `max |diff| ${d}`);
    });
  }

  type Img2img = { steps: number; strength: number; timesteps: number[] };
  const img2img = JSON.parse(fs.readFileSync(path.join(REFS, 'refs.json'), 'utf8')).img2img as Record<string, Img2img>;
  for (const [name, ref] of Object.entries(img2img)) {
    it(`${name}: an image-to-image run (10 steps, strength 0.6) as the SD pipeline starts it matches diffusers' img2img to 1e-4`, async () => {
      const s = createScheduler(CONFIG, 'scheduler_config.json', name);
      s.setTimesteps(ref.steps);
      // the SD pipeline's start (diffusers' get_timesteps): the last floor(steps * strength) steps, from index t_start * order
      const kept = Math.min(Math.floor(ref.steps * ref.strength), ref.steps);
      const ts = s.timesteps.subarray((ref.steps - kept) * s.order);
      assert.deepEqual([...ts], ref.timesteps);
      const draws = npy(path.join(REFS, `noise-${ref.steps}.npy`));
      const got = [s.addNoise(LATENTS, draws.subarray(ref.steps * PER, (ref.steps + 1) * PER), ts[0])];
      await runTimesteps(s, got[0], ts, async (input, t) => model(input, t), fixedNoise(draws), { report: (_i, _t, xi) => { got.push(xi); } });
      const want = npy(path.join(REFS, `${name}-img2img.npy`));
      assert.equal(got.length * PER, want.length);
      got.forEach((x, i) => {
        const d = maxAbsDiff(x, want.subarray(i * PER, (i + 1) * PER));
        assert.ok(d < 1e-4, `${i === 0 ? 'the noised start' : `step ${i - 1}`}: max |diff| ${d}`);
      });
    });
  }

  it('the file\'s _class_name chooses the scheduler when no name is given', () => {
    assert.equal(createScheduler(CONFIG, 'cfg').name, 'ddim');
    assert.equal(createScheduler({ ...CONFIG, _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true }, 'cfg').name, 'dpm++2m-karras');
    const classes: Record<string, string> = { DDPMScheduler: 'ddpm', HeunDiscreteScheduler: 'heun', LMSDiscreteScheduler: 'lms' };
    for (const [cls, name] of Object.entries(classes)) assert.equal(createScheduler({ ...CONFIG, _class_name: cls }, 'cfg').name, name);
    const sde = { ...CONFIG, _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver++' };
    assert.equal(createScheduler(sde, 'cfg').name, 'dpm++2m-sde');
    assert.equal(createScheduler({ ...sde, use_karras_sigmas: true }, 'cfg').name, 'dpm++2m-sde-karras');
    // a name chooses the variant whatever the file says
    assert.equal(createScheduler(sde, 'cfg', 'dpm++2m').name, 'dpm++2m');
  });

  it('ddpm draws no noise at t = 0, where its step returns the x0 estimate (eq. 15)', () => {
    const s = createScheduler({ ...CONFIG, steps_offset: 0 }, 'cfg', 'ddpm');
    s.setTimesteps(4);
    assert.deepEqual([...s.timesteps], [750, 500, 250, 0]);
    let draws = 0;
    const counting: NoiseSource = { normalArray: (n: number) => { draws++; return new Float32Array(n).fill(1); } };
    let x = LATENTS;
    for (const t of s.timesteps.subarray(0, 3)) x = s.step(model(x, t), t, x, counting);
    assert.equal(draws, 3);
    const eps = model(x, 0);
    const a0 = alphasCumprod32(diffusionConfigFromScheduler(CONFIG, 'cfg'))[0];
    const x0 = x.map((v, k) => (v - Math.sqrt(1 - a0) * eps[k]) / Math.sqrt(a0));
    assert.ok(maxAbsDiff(s.step(eps, 0, x, counting), x0) < 1e-6);
    assert.equal(draws, 3);
  });

  it('registerScheduler adds a user scheduler that createScheduler then finds by name', () => {
    registerScheduler('ddim-eta1', (j, s) => DdimScheduler.fromConfig(j, s, { eta: 1 }));
    assert.ok(schedulerNames().includes('ddim-eta1'));
    const s = createScheduler(CONFIG, 'cfg', 'ddim-eta1');
    s.setTimesteps(4);
    const zeros = { normalArray: (n: number) => new Float32Array(n) };
    const ones = { normalArray: (n: number) => new Float32Array(n).fill(1) };
    const eps = model(LATENTS, 751);
    // eta = 1 adds sigma_t z: the same step with z = 1 and z = 0 differs
    assert.ok(maxAbsDiff(s.step(eps, 751, LATENTS, ones), s.step(eps, 751, LATENTS, zeros)) > 0.1);
  });

  it('bad options and keys are refused with one line naming them', () => {
    assert.throws(() => createScheduler(CONFIG, 'cfg', 'nope'),
      (e: Error) => e instanceof OptionError && /^sampler "nope" is not a scheduler \(expected one of ddpm\|ddim\|/.test(e.message));
    assert.throws(() => DdimScheduler.fromConfig(CONFIG, 'cfg', { eta: 2 }),
      (e: Error) => e instanceof OptionError && e.message === 'eta must be a number in [0, 1], got 2');
    assert.throws(() => createScheduler({ ...CONFIG, use_karras_sigmas: 'yes' }, 'x/scheduler_config.json', 'euler-ancestral').setTimesteps(0),
      (e: Error) => e instanceof OptionError && /^steps must be an integer in \[1, 1000\], got 0$/.test(e.message));
    assert.throws(() => createScheduler({ ...CONFIG, skip_prk_steps: false }, 'x/scheduler_config.json', 'pndm'),
      (e: Error) => e instanceof ConfigError && /^x\/scheduler_config\.json: skip_prk_steps: false \(Runge-Kutta/.test(e.message));
    assert.throws(() => createScheduler({ ...CONFIG, _class_name: 'DPMSolverMultistepScheduler', solver_order: 3 }, 'x/s.json'),
      (e: Error) => e instanceof ConfigError && e.message === 'x/s.json: solver_order: 3 is not supported (expected 1 or 2)');
    const s = createScheduler(CONFIG, 'cfg', 'euler');
    assert.throws(() => s.step(LATENTS, 751, LATENTS), (e: Error) => e instanceof OptionError && /^steps not set/.test(e.message));
    s.setTimesteps(4);
    assert.throws(() => s.step(LATENTS, 750, LATENTS), (e: Error) => e instanceof OptionError && /^t 750 is not one of euler's timesteps/.test(e.message));
    assert.throws(() => createScheduler({ ...CONFIG, variance_type: 'learned_range' }, 'x/s.json', 'ddpm'),
      (e: Error) => e instanceof ConfigError
        && /^x\/s\.json: variance_type: learned_range needs a UNet that also outputs the variance \(expected one of fixed_small\|/.test(e.message)
        && e.message.endsWith('(expected one of fixed_small|fixed_small_log|fixed_large)'));
    assert.throws(() => createScheduler({ ...CONFIG, algorithm_type: 'dpmsolver' }, 'x/s.json', 'dpm++2m'),
      (e: Error) => e instanceof ConfigError
        && /^x\/s\.json: algorithm_type: expected one of dpmsolver\+\+\|sde-dpmsolver\+\+, got "dpmsolver"$/.test(e.message));
    for (const name of ['ddpm', 'dpm++2m-sde']) {
      const r = createScheduler(CONFIG, 'cfg', name);
      r.setTimesteps(4);
      assert.throws(() => r.step(LATENTS, r.timesteps[0], LATENTS), (e: Error) => e instanceof OptionError && /^noise is needed/.test(e.message), name);
    }
    const a = createScheduler(CONFIG, 'cfg', 'euler-ancestral');
    a.setTimesteps(4);
    assert.throws(() => a.step(LATENTS, 751, LATENTS), (e: Error) => e instanceof OptionError && /^noise is needed/.test(e.message));
  });
});
