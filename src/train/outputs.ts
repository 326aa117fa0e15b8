import { join } from 'node:path';
import { ortNode } from '../runtime/ort-node';
import type { Batch } from '../data/loader';
import { ModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import { createSampler } from '../diffusion/sampler';
import { writeFileAtomic } from '../core/node/atomic-file';
import { makeGrid, writeLossCurve, writePng } from '../image';
import { encodeModel } from '../onnx/proto';
import { DiffusionModel } from '../runtime/model';
import { sessionOptions } from '../runtime/node';
import { saveState, TrainStateMeta, TrainVectors } from './checkpoint';
import type { TrainOptions } from './options';
import { modelWithWeights, type Setup } from './setup-from-model';
import { tileInputs } from './preview';
import { conditionFromImage } from './sr';
import type { StepGraph } from './step-graph';

export { modelWithWeights } from './setup-from-model';

export async function writeCheckpoint(out: string, setup: Setup, step: StepGraph, config: ModelConfig, vec: TrainVectors, meta: TrainStateMeta, opt: TrainOptions, data: string): Promise<void> {
  saveState(out, meta, vec);
  const cfg: ModelConfig = { ...config, training: { step: meta.step, data, updated: new Date().toISOString() } };
  if (opt.tRange) cfg.tRange = opt.tRange;
  const model = modelWithWeights(setup, step, vec.ema, cfg);
  // LoRA over external data: the frozen weights by reference to a hard link of their file in `out`.
  if (setup.frozen) setup.frozen.write(model, join(out, 'model.onnx'));
  else await writeFileAtomic(join(out, 'model.onnx'), encodeModel(model));
  const { onStep: _a, signal: _b, onEval: _c, ...plain } = opt;
  await writeFileAtomic(join(out, 'train.json'), JSON.stringify({ options: { ...plain, recipe: setup.recipe ?? plain.recipe }, step: meta.step, totalSteps: meta.totalSteps, losses: meta.losses, evals: meta.evals }, null, 1));
  // FD (when --eval-every measured it) is drawn to the right of the loss.
  const evals = meta.evals ?? [];
  const fd = evals.length === 0 ? [] : [{
    values: evals.map((e) => e.fd),
    options: { x: evals.map((e) => e.step), smoothing: 0, markers: true, title: `FD of ${evals[0].n} EMA samples (test split)`, yLabel: 'FD' },
  }];
  if (meta.losses.length > 1) await writeLossCurve(join(out, 'loss.png'), meta.losses, { title: `training loss (${config.diffusion.prediction} objective)` }, fd);
}

export async function writeSamples(out: string, setup: Setup, step: StepGraph, config: ModelConfig, ema: Float32Array, at: number, n: number, batch: Batch, threads?: number): Promise<void> {
  const bytes = encodeModel(modelWithWeights(setup, step, ema, config));
  const model = await DiffusionModel.create(ortNode(), bytes, { config, source: 'EMA model', sessionOptions: sessionOptions({ threads }) });
  const cc = config.conditioning;
  const per = (cc.condChannels ?? config.image.channels) * config.image.size ** 2;
  let cond: Float32Array | undefined;
  if (cc.condChannels !== undefined) {
    const k = Math.min(n, batch.size);
    cond = batch.cond?.slice(0, k * per) ?? conditionFromImage(batch, config, new Rng(0), 0).cond.slice(0, k * per);
    n = k;
  }
  // Conditioning inputs of any name (manifest data): the preview batch's, one image each (preview.ts).
  const inputs = tileInputs(batch.inputs, batch.size, n);
  try {
    const sampler = createSampler(model, {
      sampler: config.kind === 'gaussian' ? 'ddim' : undefined, steps: config.kind === 'gaussian' ? 50 : undefined, seed: 0, cond, inputs,
      labels: cc.labels && batch.multiLabels ? Array.from(batch.multiLabels.slice(0, n * cc.labels)) : undefined,
    });
    const res = await sampler.sample(n);
    await writePng(join(out, 'samples', `step-${String(at).padStart(6, '0')}.png`), makeGrid(res.rgba, { scale: Math.max(1, Math.round(64 / config.image.size)) }));
  } finally {
    await model.dispose();
  }
}
