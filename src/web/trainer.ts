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
import { Rng, type RngState } from '../core/rng';
import type { Dataset } from '../data/dataset';
import { Batch, BatchLoader, type LoaderState } from '../data/loader';
import { decodeModel, encodeModel } from '../onnx/proto';
import type { Tensor } from '../onnx/tensor';
import { fromOrt, type OrtLike, toOrt } from '../runtime/ort-tensor';
import { makeFeeds } from '../train/feeds';
import { condDropoutOf, resolveSchedule, type Schedule, type ScheduleOptions, stepScalars, TRAIN_DEFAULTS, timestepRange } from '../train/hyper';
import { flattenParams } from '../train/params';
import { modelWithWeights, type Setup, setupFromModel } from '../train/setup-model';
import { buildStepGraph, type StepGraph } from '../train/step-graph';
import { checkStepMemory, estimateStepMemory, type StepMemory, WASM_HEAP_BYTES } from '../train/step-memory';
import { optimizerFeeds } from '../train/train-graph';
import { type Backend, type ModelSource, openRuntime, type OrtWeb, readBytes, type WebRuntimeOptions } from './runtime';

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

const STATE_FORMAT = 'onnx-diffusion/web-train-state/2';

interface StateHeader {
  format: string;
  step: number;
  totalSteps: number;
  batch: number;
  total: number;
  losses: number[];
  rng: RngState;
  data?: { name: string; loader: LoaderState };
}

type Vectors = { params: Float32Array; m: Float32Array; v: Float32Array; ema: Float32Array };

/** A fine-tuning run in the page. Create it with `createTrainer`. */
export class Trainer {
  /** Steps taken so far. */
  stepCount = 0;
  readonly losses: number[] = [];
  private loader?: { dataset: Dataset; loader: BatchLoader };
  private busy = false;
  private readonly rng: Rng;
  private readonly tRange: [number, number];
  private readonly condDropout: number;

  /** @internal */
  constructor(
    private readonly ort: OrtWeb,
    private session: InferenceSession | null,
    private readonly setup: Setup,
    private readonly graph: StepGraph,
    private vec: Vectors,
    private readonly schedule: Schedule,
    private readonly options: WebTrainerOptions,
    readonly backend: Backend,
    readonly memory: StepMemory,
    readonly source: string,
  ) {
    this.rng = new Rng((options.seed ?? TRAIN_DEFAULTS.seed) + 1);
    this.tRange = timestepRange(setup.config, options.tRange);
    this.condDropout = condDropoutOf(options.condDropout, setup.recipe);
  }

  /** The model's diffusion config (image size and channels to prepare data for). */
  get config(): ModelConfig {
    return this.setup.config;
  }

  /** Images per step. */
  get batch(): number {
    return this.memory.batch;
  }

  /** Trainable parameters. */
  get parameters(): number {
    return this.graph.layout.total;
  }

  get totalSteps(): number {
    return this.schedule.totalSteps;
  }

  /**
   * One optimizer step on `batch` (`size` images, NCHW floats in [-1, 1], and `labels` for a
   * class-conditional model); timesteps and noise come from the trainer's seeded Rng.
   */
  async step(batch: Batch | { x: Float32Array; labels?: ArrayLike<number> }): Promise<TrainStepReport> {
    if (this.busy) throw new DiffusionError('step: the trainer is already running a step (await the previous one)');
    this.busy = true;
    try {
      return await this.runStep(this.asBatch(batch));
    } finally {
      this.busy = false;
    }
  }

  private asBatch(b: Batch | { x: Float32Array; labels?: ArrayLike<number> }): Batch {
    const { channels, size } = this.config.image;
    const per = channels * size * size;
    const n = b.x.length / per;
    if (n !== this.batch) {
      throw new DiffusionError(`step: the batch holds ${n} images of ${channels}x${size}x${size}; this trainer's step graph takes ${this.batch}`);
    }
    if ('size' in b && 'indices' in b) return b;
    return { size: n, x: b.x, indices: Int32Array.from({ length: n }, (_, i) => i), labels: b.labels ? Int32Array.from(b.labels) : undefined };
  }

  private async runStep(batch: Batch): Promise<TrainStepReport> {
    const session = this.session;
    if (!session) throw new DiffusionError('the trainer was released');
    const feeds = makeFeeds(batch, this.config, this.graph, this.rng, this.tRange, this.condDropout);
    const scalars = stepScalars(this.stepCount, this.schedule);
    Object.assign(feeds, optimizerFeeds(this.vec, scalars));
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(this.ort as unknown as OrtLike, t as Tensor);
    const t0 = performance.now();
    let res: InferenceSession.OnnxValueMapType;
    try {
      res = await session.run(ortFeeds);
    } catch (e) {
      throw new DiffusionError(`${this.source}: the training step failed in onnxruntime-web: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
    const ms = performance.now() - t0;
    const out = (name: string) => fromOrt(res[name] as OrtTensor).data as Float32Array;
    const loss = out('loss')[0];
    if (!Number.isFinite(loss)) {
      // The weights stay those of the last good step.
      const lr = scalars.lr.toExponential(2);
      throw new DiffusionError(`loss is ${loss} at step ${this.stepCount + 1} (learning rate ${lr} too high?); the weights of step ${this.stepCount} are kept`);
    }
    this.vec = { params: out('params_out'), m: out('m_out'), v: out('v_out'), ema: out('ema_out') };
    this.stepCount++;
    this.losses.push(loss);
    const report: TrainStepReport = { step: this.stepCount, totalSteps: this.totalSteps, loss, gradNorm: out('grad_norm')[0], lr: scalars.lr, ms };
    this.options.onStep?.(report);
    return report;
  }

  /**
   * Trains on `data` (e.g. from `imageDataset`) with the Node trainer's seeded batches, until
   * `o.steps` more steps, the planned total, or `o.signal` aborts (checked between steps). Calling it
   * again with the same data set continues the batch order.
   */
  async fit(data: Dataset, o: FitOptions = {}): Promise<FitResult> {
    if (this.busy) throw new DiffusionError('fit: the trainer is already running');
    if (this.config.conditioning.classes !== undefined && !data.label) {
      throw new DiffusionError(`${data.name}: the model is class-conditional but the images have no labels`);
    }
    // As the Node trainer: a batch the caller chose may not exceed the data; the default wraps around.
    if (this.options.batch !== undefined && this.batch > data.length) {
      throw new OptionError('batch', `${this.batch}: larger than the data set ${data.name} (${data.length} images)`);
    }
    if (this.loader?.dataset !== data) {
      this.loader = { dataset: data, loader: this.newLoader(data) };
    }
    const until = Math.min(this.totalSteps, o.steps !== undefined ? this.stepCount + o.steps : this.totalSteps);
    const first = this.stepCount;
    this.busy = true;
    try {
      while (this.stepCount < until) {
        if (o.signal?.aborted) return { steps: this.stepCount - first, losses: this.losses.slice(first), stopped: 'interrupted' };
        const r = await this.runStep(await this.loader.loader.next());
        o.onStep?.(r);
      }
    } finally {
      this.busy = false;
    }
    return { steps: this.stepCount - first, losses: this.losses.slice(first), stopped: 'done' };
  }

  /** model.onnx of the weights now (EMA by default), with the model's metadata and the training step in it: loadable by `loadModel` and Node's `sample`. */
  exportModel(o: ExportOptions = {}): Uint8Array {
    const training = { step: this.stepCount, data: this.loader?.dataset.name ?? 'page', updated: new Date().toISOString() };
    const config: ModelConfig = { ...this.config, training };
    if (this.options.tRange) config.tRange = this.options.tRange;
    return encodeModel(modelWithWeights(this.setup, this.graph, (o.ema ?? true) ? this.vec.ema : this.vec.params, config));
  }

  /**
   * Everything a tab needs to continue this run exactly (weights, AdamW moments, EMA, step, Rng
   * and batch cursor) as bytes, e.g. for IndexedDB. Restore with `loadState` on a trainer created
   * with the same model and options.
   */
  saveState(): Uint8Array {
    const header: StateHeader = {
      format: STATE_FORMAT, step: this.stepCount, totalSteps: this.totalSteps, batch: this.batch, total: this.parameters, losses: this.losses,
      rng: this.rng.getState(),
      data: this.loader ? { name: this.loader.dataset.name, loader: this.loader.loader.getState() } : undefined,
    };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const start = Math.ceil((8 + json.length) / 4) * 4;
    const n = this.parameters;
    const bytes = new Uint8Array(start + 16 * n);
    new DataView(bytes.buffer).setUint32(0, 0x5354444f, true); // 'ODTS'
    new DataView(bytes.buffer).setUint32(4, json.length, true);
    bytes.set(json, 8);
    const floats = new Float32Array(bytes.buffer, start, 4 * n);
    [this.vec.params, this.vec.m, this.vec.v, this.vec.ema].forEach((a, k) => floats.set(a, k * n));
    return bytes;
  }

  /**
   * Restores `saveState` bytes. Pass the data set the run trained on (the same images, e.g. re-read
   * from the same files; checked by name) to continue its batch order; without it the next `fit`
   * starts a fresh order.
   */
  loadState(bytes: Uint8Array, data?: Dataset): void {
    if (this.busy) throw new DiffusionError('loadState: the trainer is running');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || view.getUint32(0, true) !== 0x5354444f) throw new DiffusionError('loadState: not a saved training state');
    const len = view.getUint32(4, true);
    let h: StateHeader;
    try {
      h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as StateHeader;
    } catch (e) {
      throw new DiffusionError(`loadState: unreadable header (${(e as Error).message})`);
    }
    if (h.format !== STATE_FORMAT) throw new DiffusionError(`loadState: format ${JSON.stringify(h.format)}, expected ${STATE_FORMAT}`);
    if (h.total !== this.parameters) throw new DiffusionError(`loadState: the state has ${h.total} parameters, this trainer's model ${this.parameters}`);
    // The lr schedule and the batch order follow from these: another value would not continue the run.
    if (h.totalSteps !== this.totalSteps) {
      throw new DiffusionError(`loadState: the state is of a run planned for ${h.totalSteps} steps, this trainer's for ${this.totalSteps} (\`steps\`)`);
    }
    if (h.batch !== this.batch) {
      throw new DiffusionError(`loadState: the state was trained at batch ${h.batch}, this trainer's step graph takes batch ${this.batch}`);
    }
    const start = Math.ceil((8 + len) / 4) * 4;
    const n = this.parameters;
    if (bytes.length < start + 16 * n) throw new DiffusionError('loadState: the state is truncated');
    const floats = new Float32Array(bytes.slice(start, start + 16 * n).buffer);
    this.vec = { params: floats.slice(0, n), m: floats.slice(n, 2 * n), v: floats.slice(2 * n, 3 * n), ema: floats.slice(3 * n, 4 * n) };
    this.stepCount = h.step;
    this.losses.splice(0, this.losses.length, ...h.losses);
    this.rng.setState(h.rng);
    this.loader = undefined;
    if (h.data && data) {
      if (data.name !== h.data.name) throw new DiffusionError(`loadState: the state was trained on '${h.data.name}', not '${data.name}'`);
      const loader = this.newLoader(data);
      loader.setState(h.data.loader);
      this.loader = { dataset: data, loader };
    }
  }

  /** The Node trainer's loader: batches shuffled from `seed`, as `train` draws them. */
  private newLoader(data: Dataset): BatchLoader {
    return new BatchLoader(data, { batchSize: this.batch, seed: this.options.seed ?? TRAIN_DEFAULTS.seed, flip: this.options.flip });
  }

  /** Frees the ORT session; the trainer cannot step afterwards (exportModel and saveState still work). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = null;
    await s?.release();
  }
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
  const batch = options.batch ?? 16;
  if (!Number.isInteger(batch) || batch < 1) throw new OptionError('batch', `must be a positive integer, got ${batch}`);
  const totalSteps = options.steps ?? TRAIN_DEFAULTS.steps;
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new OptionError('steps', `must be a positive integer, got ${totalSteps}`);
  const setup = setupFromModel(decodeModel(bytes, source), source, config, {
    configName: `${source} config`, noConfig: 'pass its config (the second argument of createTrainer)', batch,
  });
  let graph: StepGraph;
  try {
    graph = buildStepGraph(setup.trainModel, setup.config, {
      trainable: options.trainable, minSnrGamma: options.minSnrGamma, adamw: { weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay }, batch,
    });
  } catch (e) {
    throw new DiffusionError(`${source}: ${(e as Error).message.split('\n')[0]}`);
  }
  const stepBytes = encodeModel(graph.model);
  const batchInputs = ['x0', 'noise', 'xt', 'target', 't', ...graph.extraInputs];
  const memory = estimateStepMemory(graph.model.graph, batch, batchInputs, stepBytes.length);
  const { ort, backend, sessionOptions } = await openRuntime(options);
  checkStepMemory(memory, options.memoryLimit ?? WASM_HEAP_BYTES, source, HEAP[backend]);
  let session: InferenceSession;
  try {
    // As in Node: without the memory pattern each tensor returns to the arena after its last use.
    session = await ort.InferenceSession.create(stepBytes, { enableMemPattern: false, ...sessionOptions });
  } catch (e) {
    throw new DiffusionError(`${source}: onnxruntime-web could not load the step graph: ${String((e as Error).message ?? e).split('\n')[0]}`);
  }
  const params = flattenParams(setup.trainModel.graph, graph.layout);
  const vec = { params, m: new Float32Array(params.length), v: new Float32Array(params.length), ema: Float32Array.from(params) };
  return new Trainer(ort, session, setup, graph, vec, resolveSchedule(options, totalSteps), options, backend, memory, source);
}
