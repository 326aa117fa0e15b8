/**
 * Fine-tuning in the page: the step graph (train/step-graph.ts: forward, autodiff backward, AdamW,
 * EMA, one ONNX graph) is built here from the model's bytes and run by onnxruntime-web. The host
 * side is the Node trainer's own code: the same batch loader, feeds (timesteps, noise from a
 * seeded Rng), defaults and lr/EMA schedule (train/hyper.ts), so the same seed, images and options
 * give the same steps in a tab as `onnx-diffusion train` does in Node.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../core/errors';
import { ModelConfig } from '../core/model-config';
import type { Dataset } from '../data/dataset';
import type { Batch } from '../data/loader';
import { decodeModel, encodeModel } from '../onnx/proto';
import { resolveHyper, type LrScheduleOptions, TRAIN_DEFAULTS } from '../train/hyper';
import type { ParamLayout } from '../train/params';
import { type Setup, setupFromModel } from '../train/setup-from-model';
import { buildStepGraph, type StepGraph } from '../train/step-graph';
import { checkStepMemory, estimateStepMemory, type StepMemory, WASM_HEAP_BYTES } from '../train/step-memory';
import { freshVectors } from '../train/training-run';
import {
  asBatch, disposeRun, exclusive, fitRun, loadRunState, openPageRun, type PageRun, runModel, runStep, saveRunState, type TrainerParts,
} from './page-run';
import { type Backend, type ModelSource, openRuntime, readBytes, type WebRuntimeOptions } from './runtime';

export type { TrainerParts } from './page-run';

/** Options of `createTrainer`: the Node trainer's (same names, same defaults) plus the page's runtime choices. */
export interface WebTrainerOptions extends WebRuntimeOptions, LrScheduleOptions {
  /** Steps the run is planned for: the lr schedule's length (default 2000, as in Node). `fit` may stop earlier. */
  steps?: number;
  /**
   * Images per step (default 16: a page shares the machine; Node's default is 64). Fixed: the step
   * graph is built for it. As in Node, `fit` refuses a data set smaller than a batch given here; with
   * the default, batches wrap around a small set.
   */
  batch?: number;
  weightDecay?: number;
  /** Globs of the parameters that train (default all), as `train --trainable`. */
  trainable?: string;
  minSnrGamma?: number;
  /** Seeds the batch order (and flips) with `seed`, timesteps and noise with `seed + 1`, as the Node trainer does. Default 0. */
  seed?: number;
  /** Random horizontal flips of the training images. */
  flip?: boolean;
  condDropout?: number;
  tRange?: [number, number];
  /** Bytes one step may need (default 4 GiB, the wasm32 heap); a larger estimate refuses before the first step. */
  memoryLimit?: number;
  /** Called after every step. */
  onStep?: (r: TrainStepReport) => void;
  /** Names the model in messages (default: the URL or file name). */
  name?: string;
}

export interface TrainStepReport {
  /** Steps done so far (1 after the first). */
  step: number;
  totalSteps: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Milliseconds of this step's session run. */
  ms: number;
}

export interface FitOptions {
  /** Steps to take in this call (default: until the planned `steps`). */
  steps?: number;
  /** Checked between steps: when aborted, `fit` returns with `stopped: 'interrupted'` (as Node's `train`) and the trainer stays usable. */
  signal?: AbortSignal;
  onStep?: (r: TrainStepReport) => void;
}

export interface FitResult {
  steps: number;
  losses: number[];
  stopped: 'done' | 'interrupted';
}

export interface ExportOptions {
  /** The EMA weights (default true, what Node's checkpoint model.onnx holds) or the raw ones. */
  ema?: boolean;
}

/** A fine-tuning run in the page: a TrainingRun (train/training-run.ts) on onnxruntime-web plus the page's data (web/page-run.ts). Create it with `createTrainer`. */
export class Trainer {
  private readonly r: PageRun;

  /** @internal */
  constructor(p: TrainerParts) { this.r = openPageRun(p); }

  /** Steps taken so far. */
  get stepCount(): number { return this.r.run.step; }
  get losses(): number[] { return this.r.run.losses; }
  /** The model's diffusion config (image size and channels to prepare data for). */
  get config(): ModelConfig { return this.r.parts.setup.config; }
  /** Images per step. */
  get batch(): number { return this.r.parts.memory.batch; }
  /** Trainable parameters. */
  get parameters(): number { return this.r.parts.graph.layout.total; }
  get totalSteps(): number { return this.r.parts.hyper.schedule.totalSteps; }
  get backend(): Backend { return this.r.parts.backend; }
  /** The step's memory estimate (checked against `memoryLimit` before the first step). */
  get memory(): StepMemory { return this.r.parts.memory; }
  /** Names the model in messages. */
  get source(): string { return this.r.parts.source; }

  /**
   * One optimizer step on `batch` (`size` images, NCHW floats in [-1, 1], and `labels` for a
   * class-conditional model); timesteps and noise come from the trainer's seeded Rng.
   */
  step(batch: Batch | { x: Float32Array; labels?: ArrayLike<number> }): Promise<TrainStepReport> {
    return exclusive(this.r, 'step', () => runStep(this.r, asBatch(batch, this.config, this.batch)));
  }

  /**
   * Trains on `data` (e.g. from `imageDataset`) with the Node trainer's seeded batches, until
   * `o.steps` more steps, the planned total, or `o.signal` aborts (checked between steps). Calling it
   * again with the same data set continues the batch order.
   */
  fit(data: Dataset, o: FitOptions = {}): Promise<FitResult> { return exclusive(this.r, 'fit', () => fitRun(this.r, data, o)); }

  /** model.onnx of the weights now (EMA by default), with the model's metadata and the training step in it: loadable by `loadModel` and Node's `sample`. */
  exportModel(o: ExportOptions = {}): Uint8Array { return encodeModel(runModel(this.r, o.ema ?? true)); }

  /**
   * Everything a tab needs to continue this run exactly (weights, AdamW moments, EMA, step, Rng
   * and batch cursor) as bytes, e.g. for IndexedDB. Restore with `loadState` on a trainer created
   * with the same model and options.
   */
  saveState(): Uint8Array { return saveRunState(this.r); }

  /**
   * Restores `saveState` bytes. Pass the data set the run trained on (the same images, e.g. re-read
   * from the same files; checked by name) to continue its batch order; without it the next `fit`
   * starts a fresh order.
   */
  loadState(bytes: Uint8Array, data?: Dataset): void { loadRunState(this.r, bytes, data); }

  /** The trained values, flat in the step graph's layout (EMA by default). @internal */
  trained(ema = true): { layout: ParamLayout; values: Float32Array } {
    return { layout: this.r.parts.graph.layout, values: ema ? this.r.run.vec.ema : this.r.run.vec.params };
  }

  /** Frees the ORT session; the trainer cannot step afterwards (exportModel and saveState still work). */
  dispose(): Promise<void> { return disposeRun(this.r); }
  /** @deprecated The same as `dispose()`. */
  release(): Promise<void> { return this.dispose(); }
}

/** What the default memory limit stands for, by the backend the step runs on. */
const HEAP: Record<Backend, string> = {
  wasm: 'the WASM heap (4 GiB, wasm32)',
  webgpu: 'the default limit of 4 GiB for the WebGPU backend (`memoryLimit` sets another)',
};

/**
 * A trainer for `model` (a URL, File, Blob or bytes of a model.onnx: ours, or a foreign export
 * with `config`, the JSON that `train --config` takes). Builds the step graph in the page, checks
 * that one step fits the WASM heap, and opens an onnxruntime-web session on it.
 */
export async function createTrainer(model: ModelSource, config?: unknown, options: WebTrainerOptions = {}): Promise<Trainer> {
  const { bytes, name: fetched } = await readBytes(model, 'createTrainer');
  const source = options.name ?? fetched;
  const batch = positiveInteger('batch', options.batch ?? 16);
  const setup = setupFromModel(decodeModel(bytes, source), source, config, {
    configName: `${source} config`, noConfig: 'pass its config (the second argument of createTrainer)', batch,
  });
  return openTrainer(setup, source, options, { batch });
}

/**
 * The step graph of `setup` built in the page, its memory checked, its onnxruntime-web session
 * opened, and the Trainer over them: what createTrainer and the Stable Diffusion trainer share.
 * @internal
 */
export async function openTrainer(
  setup: Setup, source: string, options: WebTrainerOptions, extra: { batch: number; trainable?: string; nulls?: Record<string, Float32Array> },
): Promise<Trainer> {
  const { batch } = extra;
  const totalSteps = positiveInteger('steps', options.steps ?? TRAIN_DEFAULTS.steps);
  const hyper = resolveHyper(options, setup.config, setup.recipe, totalSteps);
  const { ort, backend, sessionOptions } = await openRuntime(options);
  const graph = buildWebStep(setup, { ...options, trainable: extra.trainable ?? options.trainable }, batch, source, backend);
  const stepBytes = encodeModel(graph.model);
  const memory = estimateStepMemory(graph.model.graph, batch, ['x0', 'noise', 'xt', 'target', 't', ...graph.extraInputs], stepBytes.length);
  checkStepMemory(memory, options.memoryLimit ?? WASM_HEAP_BYTES, source, HEAP[backend]);
  let session: InferenceSession;
  try {
    // As in Node: without the memory pattern each tensor returns to the arena after its last use.
    session = await ort.InferenceSession.create(stepBytes, { enableMemPattern: false, ...sessionOptions });
  } catch (e) {
    throw new DiffusionError(`${source}: onnxruntime-web could not load the step graph: ${String((e as Error).message ?? e).split('\n')[0]}`);
  }
  const vec = freshVectors(setup.trainModel, graph);
  return new Trainer({ ort, session, setup, graph, vec, hyper, options, backend, memory, source, nulls: extra.nulls });
}

export function positiveInteger(option: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new OptionError(option, `must be a positive integer, got ${n}`);
  return n;
}

/** The step graph, built in the page as `train` builds it in Node. */
function buildWebStep(setup: Setup, options: WebTrainerOptions, batch: number, source: string, backend: string): StepGraph {
  try {
    return buildStepGraph(setup.trainModel, setup.config, {
      trainable: options.trainable, minSnrGamma: options.minSnrGamma, adamw: { weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay }, batch,
      // ORT 1.29's WebGPU backend computes the default (unfold) conv weight gradient wrong; conv-transposed
      // agrees with WASM (tools/web/webgpu-grad-check.ts, docs/web.md).
      conv: backend === 'webgpu' ? { weightGradient: 'conv-transposed' } : undefined,
    });
  } catch (e) {
    throw new DiffusionError(`${source}: ${(e as Error).message.split('\n')[0]}`);
  }
}
