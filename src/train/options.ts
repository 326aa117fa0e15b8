import type { EvalPoint } from './eval-log';
import type { LrDecay } from './lr';
import type { Recipe } from '../nn';
import type { Device } from '../runtime/node';

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
  /** Replace the run already in `out` (without it, a folder that holds a run is refused). */
  overwrite?: boolean;
  /** Data spec (default 'fashion-mnist:full' where Debian's dataset-fashion-mnist is installed, else 'fashion-mnist'). */
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
  /** Train low-rank adapters only (docs/fine-tuning.md): rank, alpha (default rank), target globs. */
  lora?: { rank: number; alpha?: number; targets?: string };
  minSnrGamma?: number;
  /**
   * Recompute block activations in the backward pass (gradient checkpointing): less memory, about
   * a third more compute. Default off, except for LoRA with frozen weights by reference.
   */
  recompute?: boolean;
  /**
   * LoRA over a model whose weights are in external data: keep the frozen weights there, never
   * read nor copied (train/frozen-weights.ts). Default: on when they pass 1 GiB and no previews or
   * evaluations are asked for (sampleEvery, evalEvery 0: they need the weights); false reads them.
   * The step then runs with ORT's graph
   * optimizations off and, unless `recompute: false`, with recompute.
   */
  frozenByReference?: boolean;
  seed?: number;
  device?: Device;
  deviceId?: number;
  threads?: number;
  out?: string;
  saveEvery?: number;
  sampleEvery?: number;
  sampleN?: number;
  /** Score the EMA model every N steps (and at the end) with the evaluator; 0/undefined = never. */
  evalEvery?: number;
  /** Images sampled per evaluation (default 500). */
  evalN?: number;
  logEvery?: number;
  overfitBatch?: number;
  flip?: boolean;
  /** Train only on timesteps in [lo, hi] (an expert of an ensemble). */
  tRange?: [number, number];
  /** Probability of replacing the class, label vector or conditioning inputs by the null ones, for guidance. */
  condDropout?: number;
  /** captions: data: the pixel size pictures are resized and centre-cropped to (default the UNet's sample_size times the VAE's factor). */
  resolution?: number;
  /** captions: data: the prompts of the --sample-every grid (default the first 4 captions). */
  samplePrompts?: string[];
  /** captions: data: called after each picture and caption is encoded into the run's cache (not on resume). */
  onEncode?: (p: { done: number; total: number; file: string }) => void;
  /** Called after every step (library users; the CLI draws its progress bar from it). */
  onStep?: (s: StepReport) => void;
  /** Called after every evaluation (--eval-every). */
  onEval?: (e: EvalPoint) => void;
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

/**
 * The options a run goes by, resolved once and frozen: on resume the run's saved options (its
 * hyper-parameters) with only the step budget, callbacks, threads and device taken from the
 * caller; otherwise the caller's with the output folder and data filled in.
 */
export function resolveTrainOptions(o: TrainOptions, out: string, saved: TrainOptions | undefined, defaultData: () => string): Readonly<TrainOptions> {
  if (saved) {
    // Previews and evaluations are not hyper-parameters: a resumed run takes new ones (--sample-every 0 stops them).
    const previews = Object.fromEntries((['sampleEvery', 'sampleN', 'evalEvery', 'evalN'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
    return Object.freeze({
      ...saved, steps: o.steps ?? saved.steps, resume: out, out, onStep: o.onStep, onEval: o.onEval, signal: o.signal,
      threads: o.threads ?? saved.threads, device: o.device ?? saved.device, ...previews,
    });
  }
  return Object.freeze({ ...o, data: o.data ?? defaultData() });
}
