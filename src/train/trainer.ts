import { readTextLimited } from '../core/node/read-limits';
import { checkRecipeBudget } from '../nn/recipe-budget';
import { join } from 'node:path';
import { Batch, BatchLoader } from '../data/loader';
import { openDataset } from '../data/open';
import { defaultTrainData } from '../data/fashion-mnist';
import { Dataset } from '../data/dataset';
import { DEFAULT_COLD, ModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import { DiffusionError, OptionError } from '../core/errors';
import { NodeSession } from '../runtime/node';
import { loadState, TrainStateMeta, TrainVectors } from './checkpoint';
import { makeFeeds } from './feeds';
import { EvalPoint, TrainingEvaluator } from './eval-log';
import { condDropoutOf, resolveSchedule, stepScalars, timestepRange, TRAIN_DEFAULTS } from './hyper';
import type { TrainOptions, TrainResult } from './options';
import { writeCheckpoint, writeSamples } from './outputs';
import { modelWithWeights } from './setup-model';
import { optimizerFeeds } from './train-graph';
import { applyLora, LORA_TRAINABLE, writeAdapterFile } from './lora';
import { flattenParams } from './params';
import { setupModel, trainingBudget } from './setup';
import { RunDir } from './run-dir';
import { buildStepGraph, StepGraph } from './step-graph';
import { openCaptionedRun, type CaptionedRun } from './captioned';

export type { StepReport, TrainOptions, TrainResult } from './options';
export { setupModel } from './setup';

export async function train(o: TrainOptions): Promise<TrainResult> {
  if (o.resume !== undefined && o.overwrite) throw new DiffusionError('give `resume` or `overwrite`, not both');
  const out = o.resume ?? o.out ?? 'runs/train';
  const run = RunDir.open(out, o.resume !== undefined ? 'resume' : o.overwrite ? 'overwrite' : 'fresh');
  try {
    return await trainIn(run, out, o);
  } finally {
    run.close();
  }
}

function savedOptions(dir: string): TrainOptions {
  const file = join(dir, 'train.json');
  try {
    const j = JSON.parse(readTextLimited(file, 'json', 'train.json')) as { options?: TrainOptions };
    if (typeof j.options !== 'object' || j.options === null) throw new Error('no options in it');
    return j.options;
  } catch (e) {
    throw new DiffusionError(`${file}: cannot read the run's options (${(e as Error).message.split('\n')[0]})`);
  }
}

async function trainIn(run: RunDir, out: string, o0: TrainOptions): Promise<TrainResult> {
  // captions: data on a diffusers folder: latents and embeddings encoded once into the run (train/captioned.ts)
  const captioned = await openCaptionedRun(o0, run.path);
  try {
    return await trainWith(run, out, captioned?.options ?? o0, captioned);
  } finally {
    await captioned?.release();
  }
}

async function trainWith(run: RunDir, out: string, o: TrainOptions, captioned: CaptionedRun | undefined): Promise<TrainResult> {
  const setup = setupModel(captioned?.setupOptions ?? o);
  const lora = applyLora(setup, o);
  const { config } = setup;
  const saved = o.resume ? savedOptions(out) : undefined;
  // A resumed run keeps its hyper-parameters; only the step budget may grow.
  const opt: TrainOptions = saved ? { ...saved, steps: o.steps ?? saved.steps, resume: out, out, onStep: o.onStep, onEval: o.onEval, signal: o.signal, threads: o.threads ?? saved.threads, device: o.device ?? saved.device } : { ...o, data: o.data ?? defaultTrainData() };
  const batchSize = opt.batch ?? 64;
  const seed = opt.seed ?? 0;
  const c = config.image.channels;
  const size = config.image.size;

  // Errors from the model's own graph or recipe name a node, value or key; say which model it is.
  const source = o.init ?? (o.resume ? join(out, 'model.onnx') : typeof o.recipe === 'string' ? o.recipe : 'recipe');
  checkTrainingMemory(setup, opt.overfitBatch ?? batchSize, source);
  const dataset = captioned?.dataset ?? await openDataset(opt.data ?? defaultTrainData(), { channels: c, size, condChannels: config.conditioning.condChannels, seed });
  checkData(dataset, config, opt);
  if (opt.batch !== undefined && opt.batch > dataset.length && !opt.overfitBatch) {
    throw new OptionError('batch', `${opt.batch}: larger than the data set ${dataset.name} (${dataset.length} images)`);
  }
  if (config.kind === 'cold-blur' && !config.cold) config.cold = coldStart(dataset);
  const totalSteps = resolveSteps(opt, dataset.length, batchSize);

  let step: StepGraph;
  let session: NodeSession;
  try {
    step = buildStepGraph(setup.trainModel, config, {
      trainable: lora ? LORA_TRAINABLE : opt.trainable, minSnrGamma: opt.minSnrGamma, adamw: { weightDecay: opt.weightDecay ?? 0 }, batch: opt.overfitBatch ?? batchSize, recompute: opt.recompute,
    });
    session = await NodeSession.create(step.model, { device: opt.device, deviceId: opt.deviceId, threads: opt.threads, memoryPattern: false });
  } catch (e) {
    throw namingSource(e, source, opt.device === 'cuda');
  }

  const loader = new BatchLoader(dataset, { batchSize, seed, flip: opt.flip });
  if (opt.overfitBatch) loader.overfitBatch(opt.overfitBatch);
  const rng = new Rng(seed + 1);
  let vec: TrainVectors;
  let meta: TrainStateMeta;
  if (o.resume) {
    const st = loadState(out);
    if (st.meta.total !== step.layout.total) throw new DiffusionError(`${out}: the saved state has ${st.meta.total} parameters, the model ${step.layout.total}`);
    vec = st.vec;
    meta = { ...st.meta, totalSteps };
    rng.setState(meta.rng);
    loader.setState(meta.loader);
  } else {
    const params = flattenParams(setup.trainModel.graph, step.layout);
    vec = { params, m: new Float32Array(params.length), v: new Float32Array(params.length), ema: Float32Array.from(params) };
    meta = { step: 0, totalSteps, rng: rng.getState(), loader: loader.getState(), total: params.length, losses: [] };
  }

  const [tLo, tHi] = timestepRange(config, opt.tRange);
  const condDropout = condDropoutOf(opt.condDropout, setup.recipe);
  const schedule = resolveSchedule(opt, totalSteps);
  const started = Date.now();
  const firstStep = meta.step;
  let runMs = 0;
  let stopped: TrainResult['stopped'] = 'done';
  let lastGood = { meta: { ...meta }, vec };
  let fixedSampleBatch: Batch | undefined;
  const evaluator = opt.evalEvery ? new TrainingEvaluator(opt.evalN ?? 500, opt.threads) : undefined;

  const save = async () => {
    meta.rng = rng.getState();
    meta.loader = loader.getState();
    await writeCheckpoint(run.path, setup, step, config, vec, meta, opt, dataset.name);
    if (lora) await writeAdapterFile(run.path, lora, step.layout, vec.ema);
    else captioned?.writePipeline(run.path);
    run.commit();
  };
  // A kill between the writes of a checkpoint can leave model.onnx one checkpoint behind state/.
  if (o.resume && config.training?.step !== meta.step) await save();

  while (meta.step < totalSteps) {
    const batch = await loader.next();
    fixedSampleBatch ??= batch;
    const feeds = makeFeeds(batch, config, step, rng, [tLo, tHi], condDropout, captioned?.nullTensors);
    const scalars = stepScalars(meta.step, schedule);
    const lr = scalars.lr;
    Object.assign(feeds, optimizerFeeds(vec, scalars));
    const t0 = performance.now();
    const res = await session.run(feeds).catch((e: unknown) => {
      throw namingSource(e, source, false);
    });
    runMs += performance.now() - t0;
    const loss = (res.loss.data as Float32Array)[0];
    if (!Number.isFinite(loss)) {
      // Keep the last good checkpoint on disk untouched; report where it is.
      const at = meta.step + 1;
      meta = lastGood.meta;
      vec = lastGood.vec;
      const kept = run.hasCheckpoint ? `the last good checkpoint in ${out} is kept (step ${meta.step})` : `no checkpoint was written yet, so ${out} is not created`;
      throw new DiffusionError(`loss is ${loss} at step ${at} (learning rate ${lr.toExponential(2)} too high?); stopped, ${kept}`);
    }
    vec = { params: res.params_out.data as Float32Array, m: res.m_out.data as Float32Array, v: res.v_out.data as Float32Array, ema: res.ema_out.data as Float32Array };
    meta.step++;
    meta.losses.push(loss);
    const elapsed = (Date.now() - started) / 1000;
    opt.onStep?.({ step: meta.step, totalSteps, loss, lr, gradNorm: (res.grad_norm.data as Float32Array)[0], imagesPerSecond: (batch.size * (meta.step - firstStep)) / Math.max(elapsed, 1e-9) });
    const interrupted = opt.signal?.aborted === true;
    const atEnd = meta.step === totalSteps;
    if (evaluator && (meta.step % opt.evalEvery! === 0 || atEnd)) {
      const point: EvalPoint = await evaluator.run(modelWithWeights(setup, step, vec.ema, config), config, meta.step);
      meta.evals = [...(meta.evals ?? []), point];
      opt.onEval?.(point);
    }
    if (interrupted || atEnd || (opt.saveEvery && meta.step % opt.saveEvery === 0)) {
      await save();
      lastGood = { meta: JSON.parse(JSON.stringify(meta)) as TrainStateMeta, vec };
    }
    if (opt.sampleEvery && (meta.step % opt.sampleEvery === 0 || atEnd) && captioned) {
      await captioned.writeSamples(run.path, modelWithWeights(setup, step, vec.ema, config), meta.step);
    } else if (opt.sampleEvery && (meta.step % opt.sampleEvery === 0 || atEnd)) {
      await writeSamples(run.path, setup, step, config, vec.ema, meta.step, opt.sampleN ?? 16, fixedSampleBatch, opt.threads);
    }
    if (interrupted) {
      stopped = 'interrupted';
      break;
    }
  }
  await session.release();
  await evaluator?.release();
  const wall = Date.now() - started;
  return { out, steps: meta.step, losses: meta.losses, hostShare: wall > 0 ? Math.max(0, 1 - runMs / wall) : 0, stopped };
}

/** Refuses, before allocating, a step whose parameters, optimiser state and activations cannot fit in memory. */
function checkTrainingMemory(setup: ReturnType<typeof setupModel>, batch: number, source: string): void {
  const budget = trainingBudget(batch);
  if (setup.recipe) return checkRecipeBudget(setup.recipe, source.endsWith('.onnx') ? `${source}: the recipe in its metadata` : source, budget);
  let params = 0;
  for (const t of setup.model.graph.initializers.values()) params += t.data.length;
  if (params * 4 * budget.copies > budget.available) {
    throw new DiffusionError(`${source}: training its ${params} parameters needs about ${((params * 4 * budget.copies) / 2 ** 30).toFixed(1)} GiB, more than the memory available`);
  }
}

function namingSource(e: unknown, source: string, cuda: boolean): Error {
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes(source) || (cuda && e instanceof DiffusionError)) return e instanceof Error ? e : new Error(msg);
  const err = new DiffusionError(`${source}: ${msg.split('\n')[0]}`);
  err.cause = e;
  return err;
}

function checkData(d: Dataset, config: ModelConfig, o: TrainOptions): void {
  const cc = config.conditioning;
  if (cc.classes !== undefined && !d.label) throw new DiffusionError(`${d.name}: the model is class-conditional but the data has no labels`);
  if (cc.classes !== undefined && d.numClasses !== undefined && d.numClasses > cc.classes) {
    throw new DiffusionError(`${d.name}: ${d.numClasses} classes, the model has ${cc.classes}`);
  }
  if (cc.labels !== undefined && (!d.multiLabel || d.labelDim !== cc.labels)) {
    throw new DiffusionError(`${d.name}: the model needs multi-hot labels of width ${cc.labels} (labels.csv), the data has ${d.labelDim ?? 'none'}`);
  }
  if (cc.condChannels !== undefined && cc.lowResSize === undefined && !d.cond) {
    throw new DiffusionError(`${d.name}: the model needs condition images (paired:DIR data)`);
  }
  for (const input of cc.inputs ?? []) {
    const dims = d.tensors?.[input.name];
    if (!dims) throw new DiffusionError(`${d.name}: the model's input '${input.name}' (${input.dtype} [${input.shape.join(',')}]) needs per-image values: use manifest:DIR data naming it (docs/fine-tuning.md)`);
    const want = input.shape.slice(1);
    if (dims.length !== want.length || want.some((w, k) => typeof w === 'number' && w !== dims[k])) {
      throw new DiffusionError(`${d.name}: '${input.name}' tensors are [${dims.join(',')}], the model expects [${want.join(',')}] per image`);
    }
  }
  if (o.overfitBatch !== undefined && (!Number.isInteger(o.overfitBatch) || o.overfitBatch < 1)) {
    throw new OptionError('overfitBatch', `must be a positive integer, got ${o.overfitBatch}`);
  }
}

/**
 * Cold blur generation starts from flat images whose channel means are drawn from a Gaussian fit
 * to the data's per-image channel means (Bansal et al. 2022 fit a GMM to them); stored in the
 * model's metadata so the sampler uses the same start distribution and blur.
 */
function coldStart(d: Dataset): NonNullable<ModelConfig['cold']> {
  const n = Math.min(d.length, 2000);
  const per = d.height * d.width;
  const img = new Float32Array(d.channels * per);
  const means: number[] = [];
  for (let i = 0; i < n; i++) {
    d.image(i, img, 0);
    for (let c = 0; c < d.channels; c++) means.push(img.subarray(c * per, (c + 1) * per).reduce((s, v) => s + v, 0) / per);
  }
  const mean = means.reduce((s, v) => s + v, 0) / means.length;
  const std = Math.sqrt(means.reduce((s, v) => s + (v - mean) ** 2, 0) / means.length);
  return { blurStd: DEFAULT_COLD.blurStd, startMean: mean, startStd: std };
}

function resolveSteps(o: TrainOptions, n: number, batch: number): number {
  if (o.steps !== undefined && o.epochs !== undefined) throw new DiffusionError('give `steps` or `epochs`, not both');
  const steps = o.steps ?? (o.epochs !== undefined ? Math.ceil((o.epochs * n) / batch) : TRAIN_DEFAULTS.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be a positive integer, got ${steps}`);
  return steps;
}

/** Host side of one step: timesteps, noise, conditioning dropout, degraded inputs. */
