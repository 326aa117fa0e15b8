/**
 * Node's train(): a thin shell around the one training run (training-run.ts). It resolves the
 * options once (the saved ones first on resume), holds the run folder's lock, prepares the model,
 * data and step session (prepare.ts), and steps a NodeRun (node-run.ts: checkpoints, evaluations,
 * samples) until the planned steps are done or the signal aborts.
 */
import type { Batch } from '../data/loader';
import { checkTrainOptions } from './train-options-check';
import { previewBatch } from './preview';
import { openCaptionedRun, type CaptionedRun } from './captioned';
import { defaultTrainData } from '../data/fashion-mnist';
import { DiffusionError } from '../core/errors';
import { NodeRun } from './node-run';
import { resolveTrainOptions, type TrainOptions, type TrainResult } from './options';
import { openStep, openTrainingData, resolveSteps, savedOptions, setupFor, sourceOf } from './prepare';
import { RunDir } from './run-dir';

export type { StepReport, TrainOptions, TrainResult } from './options';
export { setupModel } from './setup';

export async function train(o: TrainOptions): Promise<TrainResult> {
  checkTrainOptions(o);
  if (o.resume !== undefined && o.overwrite) throw new DiffusionError('give `resume` or `overwrite`, not both');
  const out = o.resume ?? o.out ?? 'runs/train';
  const dir = RunDir.open(out, o.resume !== undefined ? 'resume' : o.overwrite ? 'overwrite' : 'fresh');
  try {
    // captions: data on a diffusers folder: latents and embeddings encoded once into the run (captioned.ts).
    const captioned = await openCaptionedRun(o, dir.path);
    try {
      const opt = resolveTrainOptions(captioned?.options ?? o, out, o.resume !== undefined ? savedOptions(out) : undefined, defaultTrainData);
      const run = await prepare(dir, opt, captioned);
      try {
        return await steps(run, out, opt, dir);
      } finally {
        await run.dispose();
      }
    } finally {
      await captioned?.release();
    }
  } finally {
    dir.close();
  }
}

async function prepare(dir: RunDir, opt: Readonly<TrainOptions>, captioned: CaptionedRun | undefined): Promise<NodeRun> {
  const source = sourceOf(opt);
  const { setup, lora } = setupFor(opt, source, captioned?.setupOptions);
  const dataset = captioned?.dataset ?? await openTrainingData(opt, setup.config);
  const totalSteps = resolveSteps(opt, dataset.length, opt.batch ?? 64);
  const { graph, session } = await openStep(setup, lora, opt, source, dir.path);
  return new NodeRun({ opt, dir, setup, lora, dataset, graph, session, totalSteps, source, captioned });
}

async function steps(r: NodeRun, out: string, opt: Readonly<TrainOptions>, dir: RunDir): Promise<TrainResult> {
  const { run } = r;
  const totalSteps = r.totalSteps;
  // A kill between the writes of a checkpoint can leave model.onnx one checkpoint behind state/.
  if (opt.resume !== undefined && r.config.training?.step !== run.step) await r.save();
  const started = Date.now();
  const first = run.step;
  let runMs = 0;
  let fixedBatch: Batch | undefined;
  let stopped: TrainResult['stopped'] = 'done';
  while (run.step < totalSteps) {
    const batch = await r.loader.next();
    // Previews are conditioned on the first batch's inputs, stored with the run (preview.ts).
    fixedBatch ??= await previewBatch(batch, out, dir.path, dir.resuming);
    const s = await run.next(batch);
    runMs += s.ms;
    const elapsed = (Date.now() - started) / 1000;
    const imagesPerSecond = (batch.size * (s.step - first)) / Math.max(elapsed, 1e-9);
    opt.onStep?.({ step: s.step, totalSteps, loss: s.loss, lr: s.lr, gradNorm: s.gradNorm, imagesPerSecond });
    const interrupted = opt.signal?.aborted === true;
    await r.afterStep(interrupted, fixedBatch);
    if (interrupted) {
      stopped = 'interrupted';
      break;
    }
  }
  const wall = Date.now() - started;
  return { out, steps: run.step, losses: run.losses, hostShare: wall > 0 ? Math.max(0, 1 - runMs / wall) : 0, stopped };
}
