import type { Batch } from '../data/loader';
import { ModelConfig } from '../core/model-config';
import { downsample, noiseAugment, upsampleNearest } from '../diffusion/resample';
import { Rng } from '../core/rng';
import { makeSchedule } from '../diffusion/schedules';

/** Highest augmentation level drawn in training, as a share of T (Ho et al. 2022 sweep to ~0.5T). */
export const AUG_MAX_SHARE = 0.3;

/**
 * The condition input of a training batch: for a super-resolution model the batch's own images
 * downsampled to lowResSize and upsampled back, noise-augmented at a random level when the model
 * has the `aug` input; for paired data the batch's condition images. `fixedLevel` forces a level.
 */
export function conditionFromImage(batch: Batch, config: ModelConfig, rng: Rng, fixedLevel?: number): { cond: Float32Array; aug: Int32Array } {
  const n = batch.size;
  const { channels: c, size } = config.image;
  const cc = config.conditioning;
  const aug = new Int32Array(n);
  if (cc.lowResSize === undefined) return { cond: batch.cond ?? new Float32Array(0), aug };
  const low = downsample(batch.x, n, c, size, cc.lowResSize);
  let cond = upsampleNearest(low, n, c, cc.lowResSize, size);
  if (cc.augment) {
    const maxLevel = Math.floor(AUG_MAX_SHARE * config.diffusion.timesteps);
    for (let i = 0; i < n; i++) aug[i] = fixedLevel ?? rng.int(0, maxLevel);
    cond = noiseAugment(cond, aug, makeSchedule(config.diffusion), rng);
  }
  return { cond, aug };
}
