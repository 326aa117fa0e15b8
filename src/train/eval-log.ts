/**
 * `train --eval-every N --eval-n M`: every N steps the EMA model samples M images (DDIM 50 for
 * gaussian models, as the sample grids) and the evaluator scores them; the points go to
 * train.json (`evals`) and FD is plotted beside the loss curve.
 */
import { ortNode } from '../runtime/ort-node';
import type { ModelConfig } from '../core/model-config';
import { createSampler } from '../diffusion/sampler';
import { tileInputs } from './preview';
import { createEvaluator, Evaluator, requestedClasses, type Scores } from '../eval/evaluate';
import { Model } from '../onnx/ir';
import { encodeModel } from '../onnx/proto';
import { DiffusionModel } from '../runtime/model';
import { sessionOptions } from '../runtime/node';
import { openDataset } from '../data/open';

/** The scores of one evaluation during training. */
export interface EvalPoint extends Omit<Scores, 'source'> {
  step: number;
  /** FD of M real training images (the floor at this N), when the training split is installed. */
  floorFd?: number;
}

export class TrainingEvaluator {
  private evaluator?: Evaluator;
  private floorFd?: number | null;

  constructor(readonly n: number, private readonly threads?: number) {}

  /** `inputs`: conditioning inputs of any name, `k` examples (the run's preview batch), repeated over the n images. */
  async run(model: Model, config: ModelConfig, step: number, inputs?: { k: number; values: Record<string, Float32Array> }): Promise<EvalPoint> {
    this.evaluator ??= await createEvaluator({ threads: this.threads });
    const ev = this.evaluator;
    if (this.floorFd === undefined) {
      try {
        this.floorFd = (await ev.scoreDataset(await openDataset('fashion-mnist:full', ev.net.config.image), this.n)).fd;
      } catch {
        this.floorFd = null;
      }
    }
    const dm = await DiffusionModel.create(ortNode(), encodeModel(model), { config, source: 'EMA model', sessionOptions: sessionOptions({ threads: this.threads }) });
    try {
      const gaussian = config.kind === 'gaussian';
      const res = await createSampler(dm, { sampler: gaussian ? 'ddim' : undefined, steps: gaussian ? 50 : undefined, seed: 0, inputs: inputs && tileInputs(inputs.values, inputs.k, this.n) }).sample(this.n);
      const k = config.conditioning.classes;
      const requested = k !== undefined && k === ev.net.config.classes ? requestedClasses(this.n, k) : undefined;
      const s = await ev.score(res.images, this.n, { source: `step ${step}`, channels: res.c, size: res.h, requested });
      const { source: _s, ...scores } = s;
      return { step, ...scores, ...(this.floorFd !== null ? { floorFd: this.floorFd } : {}) };
    } finally {
      await dm.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.evaluator?.dispose();
  }
}
