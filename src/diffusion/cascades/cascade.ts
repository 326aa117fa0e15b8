/**
 * Cascaded diffusion (Ho et al. 2022): a base model samples small images, and each later stage, a
 * super-resolution model, samples at its own size conditioned on the previous stage's output
 * upsampled (nearest) and noise-augmented at `augLevel`. Pure; the file format is core/cascade-files.ts, file loading runtime/pipelines.ts.
 */
import { DiffusionError } from '../../core/errors';
import type { CascadeSpec } from '../../core/cascade-files';
import { imageToRgba } from '../../image/pixels';
import { ModelConfig } from '../../core/model-config';
import { noiseAugment, upsampleNearest } from '../resample';
import { Rng } from '../../core/rng';
import { makeSchedule } from '../schedules';
import { createSampler, SampleCallOptions, SampleResult, SamplerModel } from '../sampler';
import { StepInfo } from '../samplers/types';

/**
 * Checks that the stages chain: stage 0 is unconditional, every later stage is a super-resolution
 * model whose lowResSize is the previous stage's size and whose condition has its channels.
 */
export function checkCascadeModels(spec: CascadeSpec, configs: ModelConfig[], file = 'cascade.json'): void {
  if (configs.length !== spec.stages.length) throw new DiffusionError(`${file}: ${spec.stages.length} stages but ${configs.length} models`);
  configs.forEach((c, i) => {
    const at = `${file}: stages[${i}]`;
    const cc = c.conditioning;
    if (i === 0) {
      if (cc.lowResSize !== undefined || cc.condChannels !== undefined) {
        throw new DiffusionError(`${at}: the first stage must be unconditional, but ${spec.stages[0].model} expects a ${cc.lowResSize ?? c.image.size}x${cc.lowResSize ?? c.image.size} condition image`);
      }
      return;
    }
    const prev = configs[i - 1].image;
    if (cc.lowResSize === undefined) throw new DiffusionError(`${at}: ${spec.stages[i].model} is not a super-resolution model (no conditioning.lowResSize), stage ${i - 1} makes ${prev.size}x${prev.size}`);
    if (cc.lowResSize !== prev.size) throw new DiffusionError(`${at}: expects a ${cc.lowResSize}x${cc.lowResSize} input, stage ${i - 1} makes ${prev.size}x${prev.size}`);
    const want = cc.condChannels ?? c.image.channels;
    if (want !== prev.channels) throw new DiffusionError(`${at}: expects a ${want}-channel input, stage ${i - 1} makes ${prev.channels} channels`);
    const aug = spec.stages[i].augLevel;
    if (aug !== undefined && aug > 0 && !cc.augment) throw new DiffusionError(`${at}: augLevel ${aug} given but ${spec.stages[i].model} has no noise-conditioning augmentation`);
    if (aug !== undefined && aug >= c.diffusion.timesteps) throw new DiffusionError(`${at}: augLevel ${aug} is outside [0, ${c.diffusion.timesteps - 1}]`);
  });
}

export interface CascadeSampleOptions extends SampleCallOptions {
  seed?: number;
  /** Images per network call (default all). */
  batch?: number;
  clipX0?: boolean;
  /** Called after every step of every stage. */
  onStageStep?: (info: StepInfo & { stage: number; offset: number }) => void | Promise<void>;
}

/**
 * Runs the stages in order on already-loaded models (checked with checkCascadeModels) and
 * returns the last stage's images.
 */
export async function sampleCascade(spec: CascadeSpec, models: SamplerModel[], n: number, opts: CascadeSampleOptions = {}): Promise<SampleResult> {
  checkCascadeModels(spec, models.map((m) => m.config));
  const seed = opts.seed ?? 0;
  let prev: { images: Float32Array; c: number; size: number } | undefined;
  for (const [k, stage] of spec.stages.entries()) {
    const model = models[k];
    const { channels: c, size } = model.config.image;
    let cond: Float32Array | undefined;
    const augLevel = stage.augLevel ?? 0;
    if (prev) {
      // Ho et al. 2022 sec. 4.2: condition on the upsampled low-res sample, noised to level s.
      const up = upsampleNearest(prev.images, n, prev.c, prev.size, size);
      cond = model.config.conditioning.augment && augLevel > 0
        ? noiseAugment(up, new Int32Array(n).fill(augLevel), makeSchedule(model.config.diffusion), new Rng(seed + 7919 * k))
        : up;
    }
    const sampler = createSampler(model, {
      sampler: model.config.kind === 'gaussian' ? stage.sampler ?? 'ddim' : undefined,
      steps: stage.steps, eta: stage.eta, seed: seed + 1000 * k, batch: opts.batch, clipX0: opts.clipX0, cond,
      augLevel: model.config.conditioning.augment ? augLevel : undefined,
    });
    const onStep = (info: StepInfo & { offset: number }) => opts.onStageStep?.({ ...info, stage: k });
    const res = await sampler.sample(n, { signal: opts.signal, onStep: opts.onStageStep ? onStep : undefined });
    prev = { images: res.images, c, size };
  }
  const { images, c, size } = prev!;
  return { n, c, h: size, w: size, images, rgba: Array.from({ length: n }, (_, i) => imageToRgba(images, i, c, size, size)) };
}

