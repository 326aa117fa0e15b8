/**
 * Fine-tuning in the page: the step graph (train/step-graph.ts: forward, autodiff backward, AdamW,
 * EMA, one ONNX graph) is built here from the model's bytes and run by onnxruntime-web. The host
 * side is the Node trainer's own code: the same batch loader, feeds (timesteps, noise from a
 * seeded Rng), defaults and lr/EMA schedule (train/hyper.ts), so the same seed, images and options
 * give the same steps in a tab as `onnx-diffusion train` does in Node.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../core/errors';
import { ModelConfig } from '../core/model-config';
import { Rng } from '../core/rng';
import type { Dataset } from '../data/dataset';
import { Batch, BatchLoader } from '../data/loader';
import { decodeModel, encodeModel } from '../onnx/proto';
import { fromOrt, type OrtLike, toOrt } from '../runtime/ort-tensor';
import { resolveHyper, type RunHyper, type ScheduleOptions, TRAIN_DEFAULTS } from '../train/hyper';
import { modelWithWeights, type Setup, setupFromModel } from '../train/setup-model';
import { buildStepGraph, type StepGraph } from '../train/step-graph';
import { checkStepMemory, estimateStepMemory, type StepMemory, WASM_HEAP_BYTES } from '../train/step-memory';
import type { TrainVectors } from '../train/train-graph';
import { diffusionRun, freshVectors, type RunGraph, TrainingRun } from '../train/training-run';
import { type Backend, type ModelSource, openRuntime, type OrtWeb, readBytes, type WebRuntimeOptions } from './runtime';
import { decodeTrainState, encodeTrainState, STATE_FORMAT } from './train-state';

/** Options of `createTrainer`: the Node trainer's (same names, same defaults) plus the page's runtime choices. */
export interface WebTrainerOptions extends WebRuntimeOptions, ScheduleOptions {
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

/** A fine-tuning run in the page: a TrainingRun (train/training-run.ts) on onnxruntime-web plus the page's data. Create it with `createTrainer`. */
export class Trainer {
  private loader?: { dataset: Dataset; loader: BatchLoader };
  private busy = false;
  private readonly rng: Rng;
  private readonly run: TrainingRun<Batch>;

  private session: InferenceSession | null;
  private readonly setup: Setup;
  private readonly graph: StepGraph;
  private readonly hyper: RunHyper;
  private readonly options: WebTrainerOptions;
  readonly backend: Backend;
  readonly memory: StepMemory;
  readonly source: string;

  /** @internal */
  constructor(p: TrainerParts) {
    ({ session: this.session, setup: this.setup, graph: this.graph, hyper: this.hyper, options: this.options } = p);
    ({ backend: this.backend, memory: this.memory, source: this.source } = p);
    this.rng = new Rng(p.hyper.seed + 1);
    const kept = (k: number) => `the weights of step ${k} are kept`;
    const d = { graph: p.graph, config: p.setup.config, rng: this.rng, hyper: p.hyper, nulls: p.nulls };
    this.run = diffusionRun(d, { run: webRunner(p.ort, () => this.session, p.source), vec: p.vec, kept });
  }

  /** Steps taken so far. */
  get stepCount(): number { return this.run.step; }
  get losses(): number[] { return this.run.losses; }
  /** The model's diffusion config (image size and channels to prepare data for). */
  get config(): ModelConfig { return this.setup.config; }
  /** Images per step. */
  get batch(): number { return this.memory.batch; }
  /** Trainable parameters. */
  get parameters(): number { return this.graph.layout.total; }
  get totalSteps(): number { return this.hyper.schedule.totalSteps; }

  /**
   * One optimizer step on `batch` (`size` images, NCHW floats in [-1, 1], and `labels` for a
   * class-conditional model); timesteps and noise come from the trainer's seeded Rng.
   */
  async step(batch: Batch | { x: Float32Array; labels?: ArrayLike<number> }): Promise<TrainStepReport> {
    return this.exclusive('step', () => this.runStep(asBatch(batch, this.config, this.batch)));
  }

  /**
   * Trains on `data` (e.g. from `imageDataset`) with the Node trainer's seeded batches, until
   * `o.steps` more steps, the planned total, or `o.signal` aborts (checked between steps). Calling it
   * again with the same data set continues the batch order.
   */
  async fit(data: Dataset, o: FitOptions = {}): Promise<FitResult> {
    return this.exclusive('fit', async () => {
      checkFitData(data, this.config, this.options.batch !== undefined ? this.batch : undefined);
      if (this.loader?.dataset !== data) this.loader = { dataset: data, loader: this.newLoader(data) };
      const loader = this.loader.loader;
      const until = Math.min(this.totalSteps, o.steps !== undefined ? this.stepCount + o.steps : this.totalSteps);
      const first = this.stepCount;
      const result = (stopped: FitResult['stopped']): FitResult => ({ steps: this.stepCount - first, losses: this.losses.slice(first), stopped });
      while (this.stepCount < until) {
        if (o.signal?.aborted) return result('interrupted');
        // Not `o.onStep?.(await ...)`: an absent callback would skip evaluating its argument, the step.
        const r = await this.runStep(await loader.next());
        o.onStep?.(r);
      }
      return result('done');
    });
  }

  /** model.onnx of the weights now (EMA by default), with the model's metadata and the training step in it: loadable by `loadModel` and Node's `sample`. */
  exportModel(o: ExportOptions = {}): Uint8Array {
    const training = { step: this.stepCount, data: this.loader?.dataset.name ?? 'page', updated: new Date().toISOString() };
    const config: ModelConfig = { ...this.config, training };
    if (this.options.tRange) config.tRange = this.options.tRange;
    return encodeModel(modelWithWeights(this.setup, this.graph, (o.ema ?? true) ? this.run.vec.ema : this.run.vec.params, config));
  }

  /**
   * Everything a tab needs to continue this run exactly (weights, AdamW moments, EMA, step, Rng
   * and batch cursor) as bytes, e.g. for IndexedDB. Restore with `loadState` on a trainer created
   * with the same model and options.
   */
  saveState(): Uint8Array {
    const data = this.loader ? { name: this.loader.dataset.name, loader: this.loader.loader.getState() } : undefined;
    const header = {
      format: STATE_FORMAT, step: this.stepCount, totalSteps: this.totalSteps, batch: this.batch, total: this.parameters, losses: this.losses,
      rng: this.rng.getState(), data,
    };
    return encodeTrainState(header, this.run.vec);
  }

  /**
   * Restores `saveState` bytes. Pass the data set the run trained on (the same images, e.g. re-read
   * from the same files; checked by name) to continue its batch order; without it the next `fit`
   * starts a fresh order.
   */
  loadState(bytes: Uint8Array, data?: Dataset): void {
    if (this.busy) throw new DiffusionError('loadState: the trainer is running');
    const { header: h, vec } = decodeTrainState(bytes, { total: this.parameters, totalSteps: this.totalSteps, batch: this.batch });
    if (h.data && data && data.name !== h.data.name) throw new DiffusionError(`loadState: the state was trained on '${h.data.name}', not '${data.name}'`);
    this.run.vec = vec;
    this.run.step = h.step;
    this.losses.splice(0, this.losses.length, ...h.losses);
    this.rng.setState(h.rng);
    this.loader = h.data && data ? { dataset: data, loader: this.newLoader(data) } : undefined;
    if (h.data && this.loader) this.loader.loader.setState(h.data.loader);
  }

  /** The trained values, flat in the step graph's layout (EMA by default). @internal */
  trained(ema = true): { layout: StepGraph['layout']; values: Float32Array } {
    return { layout: this.graph.layout, values: ema ? this.run.vec.ema : this.run.vec.params };
  }

  /** Frees the ORT session; the trainer cannot step afterwards (exportModel and saveState still work). */
  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    await s?.release();
  }

  /** @deprecated The same as `dispose()`. */
  release(): Promise<void> {
    return this.dispose();
  }

  private async exclusive<T>(what: string, f: () => Promise<T>): Promise<T> {
    if (this.busy) {
      throw new DiffusionError(what === 'step' ? 'step: the trainer is already running a step (await the previous one)' : `${what}: the trainer is already running`);
    }
    this.busy = true;
    try {
      return await f();
    } finally {
      this.busy = false;
    }
  }

  private async runStep(batch: Batch): Promise<TrainStepReport> {
    const r = await this.run.next(batch);
    const report: TrainStepReport = { step: r.step, totalSteps: this.totalSteps, loss: r.loss, gradNorm: r.gradNorm, lr: r.lr, ms: r.ms };
    this.options.onStep?.(report);
    return report;
  }

  /** The Node trainer's loader: batches shuffled from `seed`, as `train` draws them. */
  private newLoader(data: Dataset): BatchLoader {
    return new BatchLoader(data, { batchSize: this.batch, seed: this.hyper.seed, flip: this.options.flip });
  }
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
function asBatch(b: Batch | { x: Float32Array; labels?: ArrayLike<number> }, config: ModelConfig, batch: number): Batch {
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

/** What the default memory limit stands for, by the backend the step runs on. */
const HEAP: Record<Backend, string> = {
  wasm: 'the WASM heap (4 GiB, wasm32)',
  webgpu: 'the default limit of 4 GiB for the WebGPU backend (`memoryLimit` sets another)',
};

/** What a Trainer is made of. @internal */
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
