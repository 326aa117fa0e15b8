import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Batch, BatchLoader } from '../data/loader';
import { openDataset } from '../data/open';
import { Dataset } from '../data/dataset';
import { configFromJson, ModelConfig, readModelConfig, writeModelConfig } from '../diffusion/model-config';
import { Rng } from '../diffusion/rng';
import { coldDegrade } from '../diffusion/samplers';
import { toyNoise } from '../diffusion/samplers/toy';
import { createSampler } from '../diffusion/sampler';
import { DiffusionError } from '../errors';
import { makeGrid, writeFileAtomic, writeLossCurve, writePng } from '../image';
import { buildModel, loadRecipe } from '../nn';
import type { Recipe } from '../nn';
import { Model } from '../onnx/ir';
import { decodeModel, encodeModel } from '../onnx/proto';
import { Tensor } from '../onnx/tensor';
import { DiffusionModel } from '../runtime/model';
import { Device, NodeSession } from '../runtime/node';
import { loadState, saveState, TrainStateMeta, TrainVectors } from './checkpoint';
import { emaDecayAt, learningRate, LrDecay } from './lr';
import { flattenParams, unflattenInto } from './params';
import { buildStepGraph, cloneGraph, StepGraph } from './step-graph';
import { conditionFromImage } from './sr';

/** Options of `train` (the CLI flags map onto these one to one). */
export interface TrainOptions {
  /** Recipe file or object: train a fresh model. */
  recipe?: string | Recipe;
  /** A model.onnx to fine-tune (ours, or foreign with `config`). */
  init?: string;
  /** JSON config for a model without metadata (file path or object). */
  config?: string | object;
  /** Continue the run in this checkpoint directory exactly where it stopped. */
  resume?: string;
  /** Data spec (default 'fashion-mnist'). */
  data?: string;
  steps?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  warmup?: number;
  lrDecay?: LrDecay;
  weightDecay?: number;
  emaDecay?: number;
  gradClip?: number;
  prediction?: 'eps' | 'x0' | 'v';
  trainable?: string;
  minSnrGamma?: number;
  seed?: number;
  device?: Device;
  deviceId?: number;
  threads?: number;
  out?: string;
  saveEvery?: number;
  sampleEvery?: number;
  sampleN?: number;
  logEvery?: number;
  overfitBatch?: number;
  flip?: boolean;
  /** Train only on timesteps in [lo, hi] (an expert of an ensemble). */
  tRange?: [number, number];
  /** Probability of replacing the class (or label vector) by the null one, for guidance. */
  condDropout?: number;
  /** Called after every step (library users; the CLI draws its progress bar from it). */
  onStep?: (s: StepReport) => void;
  /** Checked after every step; when aborted the run saves and returns (Ctrl-C). */
  signal?: AbortSignal;
}

export interface StepReport {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  out: string;
  steps: number;
  losses: number[];
  /** Share of wall time spent outside session.run (data, noise, copies). */
  hostShare: number;
  stopped: 'done' | 'interrupted';
}

interface Setup {
  model: Model;
  trainModel: Model;
  config: ModelConfig;
  recipe?: Recipe;
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DiffusionError(`${path}: cannot read JSON config (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The model to train and its config, from a recipe, an existing model.onnx, or a checkpoint. */
export function setupModel(o: TrainOptions): Setup {
  const sources = [o.recipe, o.init, o.resume].filter((x) => x !== undefined).length;
  if (sources > 1) throw new DiffusionError('give only one of --recipe, --init and --resume');
  const file = o.resume ? join(o.resume, 'model.onnx') : o.init;
  if (file) {
    if (!existsSync(file)) throw new DiffusionError(`${file}: no such model file`);
    const model = decodeModel(readFileSync(file), file);
    const given = typeof o.config === 'string' ? readJsonFile(o.config) : o.config;
    const config = given !== undefined ? configFromJson(given, typeof o.config === 'string' ? o.config : 'config') : readModelConfig(model.metadata, file);
    if (!config) throw new DiffusionError(`${file}: the model carries no onnx-diffusion metadata; pass --config file.json (or use --recipe)`);
    if (o.prediction && o.prediction !== config.diffusion.prediction) {
      throw new DiffusionError(`--prediction ${o.prediction}: the model was trained to predict ${config.diffusion.prediction}; only fresh models (--recipe) can change it`);
    }
    writeModelConfig(model.metadata, config);
    // Our own models carry their recipe: with dropout, train through a graph that has the Dropout
    // nodes (model.onnx has none), holding this file's weights under the same names.
    const recipe = config.recipe as Recipe | undefined;
    if (recipe && (recipe.unet?.dropout ?? 0) > 0) {
      const trainModel = buildModel(recipe, { training: true });
      trainModel.graph.initializers = new Map(model.graph.initializers);
      return { model, trainModel, config, recipe };
    }
    return { model, trainModel: model, config, recipe };
  }
  const recipe0 = typeof o.recipe === 'string' ? loadRecipe(o.recipe) : o.recipe ?? loadRecipe(defaultRecipePath());
  const recipe: Recipe = o.prediction ? { ...recipe0, diffusion: { ...recipe0.diffusion, prediction: o.prediction } } : recipe0;
  const seed = o.seed ?? recipe.seed;
  const model = buildModel(recipe, { seed });
  const dropout = recipe.unet.dropout ?? 0;
  const trainModel = dropout > 0 ? buildModel(recipe, { seed, training: true }) : model;
  const config = readModelConfig(model.metadata, 'recipe')!;
  return { model, trainModel, config, recipe };
}

function defaultRecipePath(): string {
  const { packageRoot } = require('../data') as { packageRoot(): string };
  return join(packageRoot(), 'graphs', 'unet-fashion-mnist.json');
}

/** Trains a model; see TrainOptions. Writes checkpoints to `out` and returns the loss history. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const setup = setupModel(o);
  const { config } = setup;
  const out = o.resume ?? o.out ?? 'runs/train';
  mkdirSync(out, { recursive: true });
  const saved = o.resume ? (JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { options: TrainOptions }).options : undefined;
  // A resumed run keeps its hyper-parameters; only the step budget may grow.
  const opt: TrainOptions = saved ? { ...saved, steps: o.steps ?? saved.steps, resume: out, out, onStep: o.onStep, signal: o.signal, threads: o.threads ?? saved.threads, device: o.device ?? saved.device } : o;
  const batchSize = opt.batch ?? 64;
  const seed = opt.seed ?? 0;
  const c = config.image.channels;
  const size = config.image.size;

  const dataset = await openDataset(opt.data ?? 'fashion-mnist', { channels: c, size, condChannels: config.conditioning.condChannels, seed });
  checkData(dataset, config, opt);
  const totalSteps = resolveSteps(opt, dataset.length, batchSize);

  const step: StepGraph = buildStepGraph(setup.trainModel, config, {
    trainable: opt.trainable, minSnrGamma: opt.minSnrGamma, adamw: { weightDecay: opt.weightDecay ?? 0 }, batch: opt.overfitBatch ?? batchSize,
  });
  const session = await NodeSession.create(step.model, { device: opt.device, deviceId: opt.deviceId, threads: opt.threads });

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

  const T = config.diffusion.timesteps;
  const [tLo, tHi] = opt.tRange ?? [config.kind === 'cold-blur' ? 1 : 0, config.kind === 'cold-blur' ? T : T - 1];
  if (!(tLo >= 0 && tHi >= tLo && tHi <= T)) throw new DiffusionError(`--t-range ${tLo}:${tHi}: expected 0 <= lo <= hi <= ${T - 1}`);
  const condDropout = opt.condDropout ?? ((setup.recipe?.conditioning as { nullClassDropout?: number } | undefined)?.nullClassDropout ?? 0);
  const lrBase = opt.lr ?? 1e-3;
  const warmup = Math.min(opt.warmup ?? 100, Math.floor(totalSteps / 10));
  const started = Date.now();
  const firstStep = meta.step;
  let runMs = 0;
  let stopped: TrainResult['stopped'] = 'done';
  let lastGood = { meta: { ...meta }, vec };
  let fixedSampleBatch: Batch | undefined;

  const save = async () => {
    meta.rng = rng.getState();
    meta.loader = loader.getState();
    await writeCheckpoint(out, setup, step, config, vec, meta, opt, dataset.name);
  };

  while (meta.step < totalSteps) {
    const batch = await loader.next();
    fixedSampleBatch ??= batch;
    const feeds = makeFeeds(batch, config, step, rng, [tLo, tHi], condDropout);
    const lr = learningRate(meta.step, lrBase, warmup, totalSteps, opt.lrDecay ?? 'cosine');
    feeds.params = new Tensor('float32', [vec.params.length], vec.params);
    feeds.m = new Tensor('float32', [vec.m.length], vec.m);
    feeds.v = new Tensor('float32', [vec.v.length], vec.v);
    feeds.ema = new Tensor('float32', [vec.ema.length], vec.ema);
    feeds.step = Tensor.scalar(meta.step + 1);
    feeds.lr = Tensor.scalar(lr);
    feeds.ema_decay = Tensor.scalar(emaDecayAt(meta.step, opt.emaDecay ?? 0.999));
    feeds.max_norm = Tensor.scalar((opt.gradClip ?? 1) > 0 ? (opt.gradClip ?? 1) : 3e38);
    const t0 = performance.now();
    const res = await session.run(feeds);
    runMs += performance.now() - t0;
    const loss = (res.loss.data as Float32Array)[0];
    if (!Number.isFinite(loss)) {
      // Keep the last good checkpoint on disk untouched; report where it is.
      const at = meta.step + 1;
      meta = lastGood.meta;
      vec = lastGood.vec;
      throw new DiffusionError(`loss is ${loss} at step ${at} (learning rate ${lr.toExponential(2)} too high?); stopped, the last good checkpoint in ${out} is kept (step ${meta.step})`);
    }
    vec = { params: res.params_out.data as Float32Array, m: res.m_out.data as Float32Array, v: res.v_out.data as Float32Array, ema: res.ema_out.data as Float32Array };
    meta.step++;
    meta.losses.push(loss);
    const elapsed = (Date.now() - started) / 1000;
    opt.onStep?.({ step: meta.step, totalSteps, loss, lr, gradNorm: (res.grad_norm.data as Float32Array)[0], imagesPerSecond: (batch.size * (meta.step - firstStep)) / Math.max(elapsed, 1e-9) });
    const interrupted = opt.signal?.aborted === true;
    const atEnd = meta.step === totalSteps;
    if (interrupted || atEnd || (opt.saveEvery && meta.step % opt.saveEvery === 0)) {
      await save();
      lastGood = { meta: JSON.parse(JSON.stringify(meta)) as TrainStateMeta, vec };
    }
    if (opt.sampleEvery && (meta.step % opt.sampleEvery === 0 || atEnd)) {
      await writeSamples(out, setup, step, config, vec.ema, meta.step, opt.sampleN ?? 16, fixedSampleBatch, opt.threads);
    }
    if (interrupted) {
      stopped = 'interrupted';
      break;
    }
  }
  await session.release();
  const wall = Date.now() - started;
  return { out, steps: meta.step, losses: meta.losses, hostShare: wall > 0 ? Math.max(0, 1 - runMs / wall) : 0, stopped };
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
  if (o.overfitBatch !== undefined && (!Number.isInteger(o.overfitBatch) || o.overfitBatch < 1)) {
    throw new DiffusionError(`--overfit-batch must be a positive integer, got ${o.overfitBatch}`);
  }
}

function resolveSteps(o: TrainOptions, n: number, batch: number): number {
  if (o.steps !== undefined && o.epochs !== undefined) throw new DiffusionError('give --steps or --epochs, not both');
  const steps = o.steps ?? (o.epochs !== undefined ? Math.ceil((o.epochs * n) / batch) : 2000);
  if (!Number.isInteger(steps) || steps < 1) throw new DiffusionError(`--steps must be a positive integer, got ${steps}`);
  return steps;
}

/** Host side of one step: timesteps, noise, conditioning dropout, degraded inputs. */
function makeFeeds(batch: Batch, config: ModelConfig, step: StepGraph, rng: Rng, [lo, hi]: [number, number], condDropout: number): Record<string, Tensor> {
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
    const cold = config.cold ?? { blurStd: 0.1, startMean: 0, startStd: 0.5 };
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
  return feeds;
}

/** model.onnx with the given flat weights written into its initializers. */
export function modelWithWeights(setup: Setup, step: StepGraph, weights: Float32Array, config: ModelConfig): Model {
  const graph = cloneGraph(setup.model.graph);
  unflattenInto(graph, step.layout, weights);
  const m: Model = { ...setup.model, graph, metadata: { ...setup.model.metadata } };
  writeModelConfig(m.metadata, config);
  return m;
}

async function writeCheckpoint(out: string, setup: Setup, step: StepGraph, config: ModelConfig, vec: TrainVectors, meta: TrainStateMeta, opt: TrainOptions, data: string): Promise<void> {
  saveState(out, meta, vec);
  const cfg: ModelConfig = { ...config, training: { step: meta.step, data, updated: new Date().toISOString() } };
  if (opt.tRange) cfg.tRange = opt.tRange;
  await writeFileAtomic(join(out, 'model.onnx'), encodeModel(modelWithWeights(setup, step, vec.ema, cfg)));
  const { onStep: _a, signal: _b, ...plain } = opt;
  await writeFileAtomic(join(out, 'train.json'), JSON.stringify({ options: { ...plain, recipe: setup.recipe ?? plain.recipe }, step: meta.step, totalSteps: meta.totalSteps, losses: meta.losses }, null, 1));
  if (meta.losses.length > 1) await writeLossCurve(join(out, 'loss.png'), meta.losses, { title: `training loss (${config.diffusion.prediction} objective)` });
}

async function writeSamples(out: string, setup: Setup, step: StepGraph, config: ModelConfig, ema: Float32Array, at: number, n: number, batch: Batch, threads?: number): Promise<void> {
  const bytes = encodeModel(modelWithWeights(setup, step, ema, config));
  const model = await DiffusionModel.create(ort, bytes, { config, source: 'EMA model', sessionOptions: { ...(threads ? { intraOpNumThreads: threads } : {}), graphOptimizationLevel: 'all' } });
  const cc = config.conditioning;
  const per = (cc.condChannels ?? config.image.channels) * config.image.size ** 2;
  let cond: Float32Array | undefined;
  if (cc.condChannels !== undefined) {
    const k = Math.min(n, batch.size);
    cond = batch.cond?.slice(0, k * per) ?? conditionFromImage(batch, config, new Rng(0), 0).cond.slice(0, k * per);
    n = k;
  }
  const sampler = createSampler(model, { sampler: config.kind === 'gaussian' ? 'ddim' : undefined, steps: config.kind === 'gaussian' ? 50 : undefined, seed: 0, cond, labels: cc.labels && batch.multiLabels ? Array.from(batch.multiLabels.slice(0, n * cc.labels)) : undefined });
  const res = await sampler.sample(n);
  await writePng(join(out, 'samples', `step-${String(at).padStart(6, '0')}.png`), makeGrid(res.rgba, { scale: Math.max(1, Math.round(64 / config.image.size)) }));
  await model.release();
}
