/**
 * The state of a page Trainer and what it does with it: the one TrainingRun (train/training-run.ts)
 * run by onnxruntime-web, its Rng and batch loader (the Node trainer's, same seeds), the session,
 * and the rule that one call runs at a time. web/trainer.ts's Trainer is the thin public face.
 * (Not a package entry: web/index.ts exports the Trainer.)
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import type { Dataset } from '../data/dataset';
import { type Batch, BatchLoader } from '../data/loader';
import type { Model } from '../onnx/ir';
import { fromOrt, type OrtLike, toOrt } from '../runtime/ort-tensor';
import type { RunHyper } from '../train/hyper';
import { modelWithWeights, type Setup } from '../train/setup-from-model';
import type { StepGraph } from '../train/step-graph';
import type { StepMemory } from '../train/step-memory';
import type { TrainVectors } from '../train/train-graph';
import { diffusionRun, type RunGraph, TrainingRun } from '../train/training-run';
import type { Backend, OrtWeb } from './runtime';
import { decodeTrainState, encodeTrainState, STATE_FORMAT } from './train-state';
import type { FitOptions, FitResult, TrainStepReport, WebTrainerOptions } from './trainer';

/** What a Trainer is made of (its constructor takes them; createTrainer assembles them). */
export interface TrainerParts {
  ort: OrtWeb;
  session: InferenceSession;
  setup: Setup;
  graph: StepGraph;
  vec: TrainVectors;
  hyper: RunHyper;
  options: WebTrainerOptions;
  backend: Backend;
  memory: StepMemory;
  source: string;
  /** Per conditioning input, the value a dropped condition gets (captions: the empty prompt's embedding). */
  nulls?: Record<string, Float32Array>;
}

/** A trainer's mutable state. */
export interface PageRun {
  readonly parts: TrainerParts;
  readonly run: TrainingRun<Batch>;
  readonly rng: Rng;
  session: InferenceSession | null;
  loader?: { dataset: Dataset; loader: BatchLoader };
  busy: boolean;
}

export function openPageRun(parts: TrainerParts): PageRun {
  const rng = new Rng(parts.hyper.seed + 1);
  const r: Omit<PageRun, 'run'> & { run?: TrainingRun<Batch> } = { parts, rng, session: parts.session, busy: false };
  const kept = (k: number) => `the weights of step ${k} are kept`;
  const d = { graph: parts.graph, config: parts.setup.config, rng, hyper: parts.hyper, nulls: parts.nulls };
  r.run = diffusionRun(d, { run: webRunner(parts.ort, () => r.session, parts.source), vec: parts.vec, kept });
  return r as PageRun;
}

/** Runs `f` unless a step, fit or state change is under way (the page may click twice). */
export async function exclusive<T>(r: PageRun, what: string, f: () => Promise<T>): Promise<T> {
  if (r.busy) {
    throw new DiffusionError(what === 'step' ? 'step: the trainer is already running a step (await the previous one)' : `${what}: the trainer is already running`);
  }
  r.busy = true;
  try {
    return await f();
  } finally {
    r.busy = false;
  }
}

export async function runStep(r: PageRun, batch: Batch): Promise<TrainStepReport> {
  const s = await r.run.next(batch);
  const report: TrainStepReport = { step: s.step, totalSteps: r.parts.hyper.schedule.totalSteps, loss: s.loss, gradNorm: s.gradNorm, lr: s.lr, ms: s.ms };
  r.parts.options.onStep?.(report);
  return report;
}

/** The Node trainer's loader: batches shuffled from `seed`, as `train` draws them. */
function newLoader(r: PageRun, data: Dataset): BatchLoader {
  return new BatchLoader(data, { batchSize: r.parts.memory.batch, seed: r.parts.hyper.seed, flip: r.parts.options.flip });
}

/** Trainer.fit: steps on `data`'s seeded batches until `o.steps` more, the planned total, or `o.signal`. */
export async function fitRun(r: PageRun, data: Dataset, o: FitOptions): Promise<FitResult> {
  const { options, memory, setup, hyper } = r.parts;
  checkFitData(data, setup.config, options.batch !== undefined ? memory.batch : undefined);
  if (r.loader?.dataset !== data) r.loader = { dataset: data, loader: newLoader(r, data) };
  const loader = r.loader.loader;
  const total = hyper.schedule.totalSteps;
  const until = Math.min(total, o.steps !== undefined ? r.run.step + o.steps : total);
  const first = r.run.step;
  const result = (stopped: FitResult['stopped']): FitResult => ({ steps: r.run.step - first, losses: r.run.losses.slice(first), stopped });
  while (r.run.step < until) {
    if (o.signal?.aborted) return result('interrupted');
    // Not `o.onStep?.(await ...)`: an absent callback would skip evaluating its argument, the step.
    const report = await runStep(r, await loader.next());
    o.onStep?.(report);
  }
  return result('done');
}

/** model.onnx of the weights now (EMA or raw), with the model's metadata and the training step in it. */
export function runModel(r: PageRun, ema: boolean): Model {
  const { setup, graph, options } = r.parts;
  const training = { step: r.run.step, data: r.loader?.dataset.name ?? 'page', updated: new Date().toISOString() };
  const config: ModelConfig = { ...setup.config, training };
  if (options.tRange) config.tRange = options.tRange;
  return modelWithWeights(setup, graph, ema ? r.run.vec.ema : r.run.vec.params, config);
}

export function saveRunState(r: PageRun): Uint8Array {
  const data = r.loader ? { name: r.loader.dataset.name, loader: r.loader.loader.getState() } : undefined;
  const { hyper, memory, graph } = r.parts;
  const header = {
    format: STATE_FORMAT, step: r.run.step, totalSteps: hyper.schedule.totalSteps, batch: memory.batch, total: graph.layout.total, losses: r.run.losses,
    rng: r.rng.getState(), data,
  };
  return encodeTrainState(header, r.run.vec);
}

export function loadRunState(r: PageRun, bytes: Uint8Array, data?: Dataset): void {
  if (r.busy) throw new DiffusionError('loadState: the trainer is running');
  const { hyper, memory, graph } = r.parts;
  const { header: h, vec } = decodeTrainState(bytes, { total: graph.layout.total, totalSteps: hyper.schedule.totalSteps, batch: memory.batch });
  if (h.data && data && data.name !== h.data.name) throw new DiffusionError(`loadState: the state was trained on '${h.data.name}', not '${data.name}'`);
  r.run.vec = vec;
  r.run.step = h.step;
  r.run.losses.splice(0, r.run.losses.length, ...h.losses);
  r.rng.setState(h.rng);
  r.loader = h.data && data ? { dataset: data, loader: newLoader(r, data) } : undefined;
  if (h.data && r.loader) r.loader.loader.setState(h.data.loader);
}

export async function disposeRun(r: PageRun): Promise<void> {
  const s = r.session;
  r.session = null;
  await s?.release();
}

/** Runs the step graph in onnxruntime-web: our tensors in, ours out. */
function webRunner(ort: OrtWeb, session: () => InferenceSession | null, source: string): RunGraph {
  return async (feeds) => {
    const s = session();
    if (!s) throw new DiffusionError('the trainer was released');
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(ort as unknown as OrtLike, t);
    let res: InferenceSession.OnnxValueMapType;
    try {
      res = await s.run(ortFeeds);
    } catch (e) {
      throw new DiffusionError(`${source}: the training step failed in onnxruntime-web: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
    return Object.fromEntries(Object.entries(res).map(([k, v]) => [k, fromOrt(v as OrtTensor)]));
  };
}

/** A caller's batch as the loader's Batch, checked against the step graph's batch size. */
export function asBatch(b: Batch | { x: Float32Array; labels?: ArrayLike<number> }, config: ModelConfig, batch: number): Batch {
  const { channels, size } = config.image;
  const n = b.x.length / (channels * size * size);
  if (n !== batch) {
    throw new DiffusionError(`step: the batch holds ${n} images of ${channels}x${size}x${size}; this trainer's step graph takes ${batch}`);
  }
  if ('size' in b && 'indices' in b) return b;
  return { size: n, x: b.x, indices: Int32Array.from({ length: n }, (_, i) => i), labels: b.labels ? Int32Array.from(b.labels) : undefined };
}

/** As the Node trainer: labels for a class-conditional model; a batch the caller chose may not exceed the data (the default wraps around). */
function checkFitData(data: Dataset, config: ModelConfig, chosenBatch: number | undefined): void {
  if (config.conditioning.classes !== undefined && !data.label) {
    throw new DiffusionError(`${data.name}: the model is class-conditional but the images have no labels`);
  }
  if (chosenBatch !== undefined && chosenBatch > data.length) {
    throw new OptionError('batch', `${chosenBatch}: larger than the data set ${data.name} (${data.length} images)`);
  }
}
