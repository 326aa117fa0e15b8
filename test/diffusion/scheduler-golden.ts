/**
 * The cases of scheduler-objects.test.ts: every sampler x model kind through createSampler on a
 * closed-form denoiser. Their output hashes were recorded with the samplers as they were before
 * they became scheduler objects (2026-12-03), so the refactor is held bit-identical.
 */
import { createHash } from 'node:crypto';
import { FORMAT, ModelConfig } from '../../src/core/model-config';
import { DiffusionConfig } from '../../src/core/diffusion-config';
import { createSampler, CreateSamplerOptions, Extras, SamplerModel } from '../../src/diffusion/sampler';

/** A closed-form "network": smooth in x and t, depending on the class so guidance shows. */
export function closedFormModel(config: ModelConfig): SamplerModel {
  return {
    config,
    async run(x: Float32Array, t: Int32Array, e: Extras = {}) {
      const per = x.length / t.length;
      return x.map((v, i) => {
        const n = Math.floor(i / per);
        const cls = e.class ? e.class[n] : 0;
        return 0.4 * v + 0.3 * Math.sin(0.7 * (i % per) + t[n] / 17) + 0.05 * cls;
      });
    },
  };
}

function model(kind: ModelConfig['kind'], diffusion: Partial<DiffusionConfig> = {}, classes?: number): ModelConfig {
  return {
    format: FORMAT, kind, image: { channels: 2, size: 4 },
    diffusion: { timesteps: 100, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'eps', ...diffusion },
    conditioning: classes === undefined ? {} : { classes },
  };
}

export interface GoldenCase {
  name: string;
  config: ModelConfig;
  options: CreateSamplerOptions;
}

const image = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i * 0.37) * 0.8);
const latents = Float32Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i * 1.3));

export function goldenCases(): GoldenCase[] {
  const eps = model('gaussian');
  const cases: GoldenCase[] = [];
  for (const prediction of ['eps', 'v', 'x0'] as const) {
    const cfg = model('gaussian', { prediction, schedule: prediction === 'v' ? 'cosine' : 'linear' });
    for (const sampler of ['ddpm', 'ddim', 'dpm++2m', 'dpm++2m-sde', 'euler', 'heun'] as const) {
      cases.push({ name: `${sampler} ${prediction}`, config: cfg, options: { sampler, steps: 6, seed: 3 } });
    }
  }
  for (const spacing of ['leading', 'trailing', 'linspace'] as const) {
    for (const sampler of ['ddpm', 'ddim', 'dpm++2m', 'dpm++2m-sde'] as const) {
      cases.push({ name: `${sampler} spacing ${spacing}`, config: eps, options: { sampler, steps: 7, seed: 1, spacing } });
    }
  }
  cases.push(
    { name: 'ddpm all T steps', config: eps, options: { sampler: 'ddpm', seed: 2 } },
    { name: 'ddpm variance beta', config: eps, options: { sampler: 'ddpm', steps: 10, seed: 2, variance: 'beta' } },
    { name: 'ddim default', config: eps, options: {} },
    { name: 'ddim eta 0.5', config: eps, options: { sampler: 'ddim', steps: 8, eta: 0.5, seed: 9 } },
    { name: 'ddim eta 1 no clip', config: eps, options: { sampler: 'ddim', steps: 8, eta: 1, seed: 9, clipX0: false } },
    { name: 'euler no clip', config: eps, options: { sampler: 'euler', steps: 9, seed: 4, clipX0: false } },
    { name: 'heun default steps', config: eps, options: { sampler: 'heun', seed: 4 } },
    { name: 'dpm++2m-sde seed 11', config: eps, options: { sampler: 'dpm++2m-sde', steps: 12, seed: 11 } },
    { name: 'ddim latents batch 2', config: eps, options: { sampler: 'ddim', steps: 5, latents, batch: 2 } },
    { name: 'euler latents', config: eps, options: { sampler: 'euler', steps: 5, latents } },
    {
      name: 'ddim diffusers config (stepsOffset 1, abar_0 last, trailing, clip 1)',
      config: model('gaussian', { stepsOffset: 1, setAlphaToOne: false, timestepSpacing: 'trailing', clipSample: 1 }),
      options: { sampler: 'ddim', steps: 5, seed: 2 },
    },
    {
      name: 'ddpm diffusers config (leading + offset, clip 0)',
      config: model('gaussian', { stepsOffset: 1, timestepSpacing: 'leading', clipSample: 0 }),
      options: { sampler: 'ddpm', steps: 5, seed: 2 },
    },
    { name: 'euler with a config spacing', config: model('gaussian', { timestepSpacing: 'linspace' }), options: { sampler: 'euler', steps: 5, seed: 2 } },
    { name: 'ddim class guidance 3', config: model('gaussian', {}, 3), options: { sampler: 'ddim', steps: 5, seed: 2, guidance: 3, classes: [0, 2] } },
    { name: 'heun class guidance 2', config: model('gaussian', {}, 3), options: { sampler: 'heun', steps: 4, seed: 2, guidance: 2 } },
    { name: 'toy default', config: model('toy'), options: {} },
    { name: 'toy 7 steps clip', config: model('toy'), options: { steps: 7, seed: 5, clipX0: true } },
    { name: 'toy latents', config: model('toy'), options: { steps: 4, latents } },
    { name: 'toy guidance', config: model('toy', {}, 2), options: { steps: 4, guidance: 2.5 } },
    { name: 'cold default', config: model('cold-blur', { timesteps: 8 }), options: { seed: 6 } },
    {
      name: 'cold no clip',
      config: { ...model('cold-blur', { timesteps: 8 }), cold: { blurStd: 0.3, startMean: 0.1, startStd: 0.2 } },
      options: { seed: 6, clipX0: false },
    },
  );
  for (const strength of [0, 0.3, 0.55, 0.8, 1]) {
    for (const sampler of ['ddpm', 'ddim', 'dpm++2m', 'dpm++2m-sde', 'euler', 'heun'] as const) {
      cases.push({ name: `${sampler} img2img ${strength}`, config: eps, options: { sampler, steps: 6, seed: 8, image, strength } });
    }
    cases.push({ name: `toy img2img ${strength}`, config: model('toy'), options: { steps: 6, seed: 8, image, strength } });
    cases.push({ name: `cold img2img ${strength}`, config: model('cold-blur', { timesteps: 8 }), options: { seed: 8, image, strength } });
  }
  return cases;
}

/** sha256 (first 16 hex) of the images, every onStep's t, step, total, x and x0, and n = 3. */
export async function goldenHash(c: GoldenCase): Promise<string> {
  const h = createHash('sha256');
  const bytes = (a: Float32Array) => h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const r = await createSampler(closedFormModel(c.config), c.options).sample(3, {
    onStep(info) {
      h.update(`${info.offset}:${info.step}/${info.total}@${info.t};`);
      bytes(info.x);
      bytes(info.x0);
    },
  });
  bytes(r.images);
  return h.digest('hex').slice(0, 16);
}
