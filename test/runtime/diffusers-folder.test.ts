import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configFromJson, ModelConfig } from '../../src/core/model-config';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { createSampler } from '../../src/diffusion/sampler';
import { makeSchedule } from '../../src/diffusion/schedules';
import { decodeModelHeader } from '../../src/onnx/proto';
import { diffusersFolderConfig, diffusersUnetFile } from '../../src/runtime/diffusers-folder';
import { resolveModelPath } from '../../src/runtime/load';
import { fixture } from '../helpers/paths';

const TINY = fixture('tiny-sd');
const SCHED = JSON.parse(fs.readFileSync(path.join(TINY, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<string, unknown>;
const unet = decodeModelHeader(fs.readFileSync(path.join(TINY, 'unet', 'model.onnx')), 'unet');
const ref = (name: string) => decodeNpy(fs.readFileSync(fixture(`tiny-sd/reference/${name}`)), name);

/** A pipeline folder with the tiny-sd index and the given scheduler config (and unet/config.json). */
function folder(sched: Record<string, unknown>, unetConfig?: object, index: object = JSON.parse(fs.readFileSync(path.join(TINY, 'model_index.json'), 'utf8'))): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-folder-'));
  fs.mkdirSync(path.join(dir, 'scheduler'));
  fs.mkdirSync(path.join(dir, 'unet'));
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify(index));
  fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(sched));
  if (unetConfig) fs.writeFileSync(path.join(dir, 'unet', 'config.json'), JSON.stringify(unetConfig));
  return dir;
}

function configOf(sched: Record<string, unknown>, given?: object, unetConfig?: object): ModelConfig {
  const dir = folder(sched, unetConfig);
  try {
    return configFromJson(diffusersFolderConfig(dir, unet.model, unet.external, given ?? { image: { size: 16 } }), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A model that records the timesteps it is called at and answers `answer(step)`. */
function recorder(config: ModelConfig, answer: (i: number, x: Float32Array) => Float32Array) {
  const ts: number[] = [];
  return {
    ts,
    model: {
      config,
      run: async (x: Float32Array, t: Int32Array) => {
        ts.push(t[0]);
        return answer(ts.length - 1, x);
      },
    },
  };
}

describe('diffusers pipeline folders: every scheduler key, honoured by the samplers', () => {
  it("maps each key of tiny-sd's scheduler_config.json (SD 1.5's DDIM)", () => {
    const c = configOf(SCHED);
    assert.deepEqual(c.diffusion, {
      timesteps: 1000, schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012, prediction: 'eps',
      stepsOffset: 1, timestepSpacing: 'leading', clipSample: 0, setAlphaToOne: false,
    });
    assert.deepEqual(c.image, { channels: 4, size: 16 });
  });

  it('maps beta_schedule, beta range, num_train_timesteps, prediction_type, timestep_spacing and clip_sample_range', () => {
    const cases: [Record<string, unknown>, Partial<ModelConfig['diffusion']>][] = [
      [{ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 }, { schedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 }],
      [{ beta_schedule: 'squaredcos_cap_v2' }, { schedule: 'cosine' }],
      [{ num_train_timesteps: 500 }, { timesteps: 500 }],
      [{ prediction_type: 'v_prediction' }, { prediction: 'v' }],
      [{ prediction_type: 'sample' }, { prediction: 'x0' }],
      [{ timestep_spacing: 'trailing' }, { timestepSpacing: 'trailing' }],
      [{ timestep_spacing: 'linspace' }, { timestepSpacing: 'linspace' }],
      [{ clip_sample: true, clip_sample_range: 1 }, { clipSample: 1 }],
      [{ set_alpha_to_one: true, steps_offset: 0 }, { setAlphaToOne: true, stepsOffset: 0 }],
    ];
    for (const [keys, want] of cases) {
      const d = configOf({ ...SCHED, ...keys }).diffusion;
      for (const [k, v] of Object.entries(want)) assert.equal(d[k as keyof typeof d], v, JSON.stringify(keys));
    }
  });

  it('refuses unknown values by key, and schedulers it cannot map by class name', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ beta_schedule: 'sigmoid' }, /scheduler_config\.json.*beta_schedule: "sigmoid" is not supported \(expected one of linear\|scaled_linear\|squaredcos_cap_v2\)/],
      [{ prediction_type: 'flow' }, /prediction_type: "flow" is not supported/],
      [{ timestep_spacing: 'karras' }, /timestep_spacing: "karras" is not supported \(expected one of leading\|trailing\|linspace\)/],
      [{ clip_sample: 'yes' }, /clip_sample/],
      [{ steps_offset: -1 }, /steps_offset/],
      [{ thresholding: true }, /thresholding: dynamic thresholding is not supported/],
      [{ _class_name: 'FlowMatchEulerDiscreteScheduler' }, /_class_name: FlowMatchEulerDiscreteScheduler is not a scheduler whose config this project maps/],
    ];
    for (const [keys, re] of bad) assert.throws(() => configOf({ ...SCHED, ...keys }), re, JSON.stringify(keys));
  });

  it('reads sample_size and in_channels from unet/config.json; a given config wins key by key', () => {
    assert.deepEqual(configOf(SCHED, {}, { sample_size: 32, in_channels: 4 }).image, { channels: 4, size: 32 });
    const c = configOf(SCHED, { image: { size: 8 }, diffusion: { timestepSpacing: 'trailing' } }, { sample_size: 32 });
    assert.equal(c.image.size, 8);
    assert.equal(c.diffusion.timestepSpacing, 'trailing');
    assert.equal(c.diffusion.stepsOffset, 1);
  });

  it('model_index.json without a unet, or a folder without unet/model.onnx, is refused naming the file', () => {
    const dir = folder(SCHED, undefined, { _class_name: 'OnnxStableDiffusionPipeline', vae_decoder: ['diffusers', 'OnnxRuntimeModel'] });
    try {
      assert.throws(() => diffusersUnetFile(dir), /model_index\.json: lists no "unet" \(components: vae_decoder\)/);
      fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ unet: ['diffusers', 'OnnxRuntimeModel'] }));
      assert.throws(() => resolveModelPath(dir), /model_index\.json lists a unet but unet\/model\.onnx is missing/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(resolveModelPath(TINY), path.join(TINY, 'unet', 'model.onnx'));
  });

  it("DDIM with the folder's config reproduces diffusers' 4-step run: timesteps 751..1 (steps_offset), last step to abar_0 (set_alpha_to_one false)", async () => {
    const config = configOf(SCHED);
    const before = npyToFloat32(ref('latents_before_step.npy'));
    const guided = npyToFloat32(ref('guided_steps.npy'));
    const per = 4 * 16 * 16;
    const r = recorder(config, (i, x) => {
      // the sampler arrives at diffusers' latents before each step
      const want = before.subarray(i * per, (i + 1) * per);
      for (let k = 0; k < per; k++) assert.ok(Math.abs(x[k] - want[k]) < 1e-4 * (1 + Math.abs(want[k])), `step ${i} element ${k}`);
      return guided.slice(i * per, (i + 1) * per);
    });
    const out = await createSampler(r.model, { steps: 4, latents: npyToFloat32(ref('latents_init.npy')) }).sample(1);
    assert.deepEqual(r.ts, Array.from(ref('timesteps.npy').data as BigInt64Array, Number));
    const final = npyToFloat32(ref('latents_final.npy'));
    for (let k = 0; k < per; k++) assert.ok(Math.abs(out.images[k] - final[k]) < 1e-4 * (1 + Math.abs(final[k])));
  });

  it('set_alpha_to_one: an eps = 0 model scales x_T by sqrt(abar_final / abar_t0), abar_final = 1 or abar_0 (closed form)', async () => {
    for (const one of [true, false]) {
      const config = configOf({ ...SCHED, set_alpha_to_one: one });
      const abar = makeSchedule(config.diffusion).alphasCumprod;
      const r = recorder(config, (_, x) => new Float32Array(x.length));
      const xT = new Float32Array(4 * 16 * 16).fill(0.5);
      const out = await createSampler(r.model, { steps: 4, latents: xT }).sample(1);
      const want = 0.5 * Math.sqrt((one ? 1 : abar[0]) / abar[751]);
      assert.ok(Math.abs(out.images[0] - want) < 1e-5 * want, `${one}: ${out.images[0]} vs ${want}`);
    }
  });

  it('clip_sample: an x0 model answering 3 ends at 1 with clip_sample true, at 3 without (flags still override)', async () => {
    for (const [clip, flag, want] of [[true, undefined, 1], [false, undefined, 3], [true, false, 3], [false, true, 1]] as const) {
      const config = configOf({ ...SCHED, prediction_type: 'sample', clip_sample: clip, set_alpha_to_one: true });
      const r = recorder(config, (_, x) => new Float32Array(x.length).fill(3));
      const out = await createSampler(r.model, { steps: 4, clipX0: flag }).sample(1);
      assert.ok(Math.abs(out.images[0] - want) < 1e-5, `${clip}/${flag}: ${out.images[0]}`);
    }
  });

  it("steps_offset and timestep_spacing choose diffusers' timesteps (offset on 'leading' only)", async () => {
    const cases: [Record<string, unknown>, number[]][] = [
      [{ steps_offset: 0 }, [750, 500, 250, 0]],
      [{ steps_offset: 1 }, [751, 501, 251, 1]],
      [{ timestep_spacing: 'trailing' }, [999, 749, 499, 249]],
      [{ timestep_spacing: 'linspace' }, [999, 666, 333, 0]],
    ];
    for (const [keys, want] of cases) {
      for (const sampler of ['ddim', 'ddpm', 'dpm++2m'] as const) {
        const r = recorder(configOf({ ...SCHED, ...keys }), (_, x) => new Float32Array(x.length));
        await createSampler(r.model, { steps: 4, sampler }).sample(1);
        assert.deepEqual(r.ts, want, `${sampler} ${JSON.stringify(keys)}`);
      }
    }
  });
});
