import type { Batch } from '../data/loader';
import { DEFAULT_COLD, ModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import { coldDegrade } from '../diffusion/samplers';
import { toyNoise } from '../diffusion/samplers/toy';
import { Tensor } from '../onnx/tensor';
import { condInputFeeds } from './cond-feeds';
import { conditionFromImage } from './sr';
import type { StepGraph } from './step-graph';

export function makeFeeds(
  batch: Batch, config: ModelConfig, step: StepGraph, rng: Rng, [lo, hi]: readonly [number, number], condDropout: number, nulls?: Record<string, Float32Array>,
): Record<string, Tensor> {
  const n = batch.size;
  const { channels: c, size } = config.image;
  const dims = [n, c, size, size];
  const t = new BigInt64Array(n);
  const tNum = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    tNum[i] = rng.int(lo, hi);
    t[i] = BigInt(tNum[i]);
  }
  const feeds: Record<string, Tensor> = { t: new Tensor('int64', [n], t) };
  if (step.forward === 'host') {
    const cold = config.cold ?? DEFAULT_COLD;
    feeds.xt = new Tensor('float32', dims, coldDegrade(batch.x, tNum, { timesteps: config.diffusion.timesteps, blurStd: cold.blurStd, c, h: size, w: size }));
    feeds.target = new Tensor('float32', dims, batch.x);
  } else {
    feeds.x0 = new Tensor('float32', dims, batch.x);
    const noise = config.kind === 'toy' ? toyNoise(rng, batch.x.length) : rng.normalArray(batch.x.length);
    feeds.noise = new Tensor('float32', dims, noise);
  }
  const cc = config.conditioning;
  if (step.extraInputs.includes('class')) {
    const cls = new BigInt64Array(n);
    for (let i = 0; i < n; i++) cls[i] = BigInt(condDropout > 0 && rng.uniform() < condDropout ? cc.classes! : batch.labels![i]);
    feeds.class = new Tensor('int64', [n], cls);
  }
  if (step.extraInputs.includes('labels')) {
    const lab = Float32Array.from(batch.multiLabels!);
    for (let i = 0; i < n; i++) if (condDropout > 0 && rng.uniform() < condDropout) lab.fill(0, i * cc.labels!, (i + 1) * cc.labels!);
    feeds.labels = new Tensor('float32', [n, cc.labels!], lab);
  }
  if (step.extraInputs.includes('cond') || step.extraInputs.includes('aug')) {
    const { cond, aug } = conditionFromImage(batch, config, rng);
    if (step.extraInputs.includes('cond')) feeds.cond = new Tensor('float32', [n, cc.condChannels ?? c, size, size], cond);
    if (step.extraInputs.includes('aug')) feeds.aug = new Tensor('int64', [n], BigInt64Array.from(aug, (v) => BigInt(v)));
  }
  Object.assign(feeds, condInputFeeds(batch, config, step.extraInputs, rng, condDropout, nulls));
  return feeds;
}

/** model.onnx with the given flat weights written into its initializers. */
