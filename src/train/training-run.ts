/**
 * One training run, whatever runs its graph: the flat vectors (weights, AdamW moments, EMA), the
 * step count and losses, the per-step feeds and optimizer scalars, and the NaN guard, around an
 * injected `run(feeds)` (onnxruntime-node in train(), onnxruntime-web in the page's Trainer, any
 * session for the classifier's GraphTrainer). The shells around it add files and the lock (Node)
 * or the page's data; this is the one training loop body they share.
 */
import { DiffusionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import type { Rng } from '../core/rng';
import type { Batch } from '../data/loader';
import { Tensor } from '../onnx/tensor';
import { makeFeeds } from './feeds';
import { type RunHyper, stepScalars } from './hyper';
import { flattenParams } from './params';
import type { StepGraph } from './step-graph';
import { optimizerFeeds, type StepScalars, type TrainGraph, type TrainVectors } from './train-graph';
import type { Model } from '../onnx/ir';

export type Feeds = Record<string, Tensor>;

/** Runs the training graph once: the step's feeds in, its outputs (params_out, ..., loss, grad_norm) out. */
export type RunGraph = (feeds: Feeds) => Promise<Feeds>;

export interface StepOutcome {
  /** Steps done, 1 after the first. */
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Milliseconds of the graph run. */
  ms: number;
}

export interface TrainingRunInit<B> {
  run: RunGraph;
  vec: TrainVectors;
  /** The data feeds of one batch (timesteps, noise, labels: whatever the graph's data inputs are). */
  feed: (batch: B) => Feeds;
  /** The optimizer scalars of 0-based step `k`. */
  scalars: (k: number) => StepScalars;
  /** Steps already taken and their losses (a resumed run). */
  step?: number;
  losses?: number[];
  /** What a non-finite loss at step `k + 1` leaves, for its message (e.g. 'the weights of step k are kept'). */
  kept: (k: number) => string;
}

export class TrainingRun<B> {
  step: number;
  readonly losses: number[];
  vec: TrainVectors;

  constructor(private readonly init: TrainingRunInit<B>) {
    this.step = init.step ?? 0;
    this.losses = init.losses ?? [];
    this.vec = init.vec;
  }

  /** One optimizer step on `batch`; a non-finite loss throws and keeps the vectors of the last good step. */
  async next(batch: B): Promise<StepOutcome> {
    const s = this.init.scalars(this.step);
    const feeds = { ...this.init.feed(batch), ...optimizerFeeds(this.vec, s) };
    const t0 = performance.now();
    const r = await this.init.run(feeds);
    const ms = performance.now() - t0;
    const out = (name: string) => r[name].data as Float32Array;
    const loss = out('loss')[0];
    if (!Number.isFinite(loss)) {
      throw new DiffusionError(`loss is ${loss} at step ${this.step + 1} (learning rate ${s.lr.toExponential(2)} too high?); ${this.init.kept(this.step)}`);
    }
    this.vec = { params: out('params_out'), m: out('m_out'), v: out('v_out'), ema: out('ema_out') };
    this.step++;
    this.losses.push(loss);
    return { step: this.step, loss, gradNorm: out('grad_norm')[0], lr: s.lr, ms };
  }
}

/** Fresh vectors for `graph`'s layout: the model's weights, zero moments, the EMA at the weights. */
export function freshVectors(model: Model, graph: Pick<TrainGraph, 'layout'>): TrainVectors {
  const params = flattenParams(model.graph, graph.layout);
  return { params, m: new Float32Array(params.length), v: new Float32Array(params.length), ema: Float32Array.from(params) };
}

/** The diffusion side of a run: what its batches feed (seeded timesteps and noise) and its lr/EMA schedule. */
export interface DiffusionRunInit {
  graph: StepGraph;
  config: ModelConfig;
  /** Draws timesteps, noise and conditioning dropout (seed + 1, as the Node trainer seeds it). */
  rng: Rng;
  hyper: RunHyper;
  /** Per-input null tensors for conditioning dropout (captions: the empty prompt's embedding). */
  nulls?: Record<string, Float32Array>;
}

/** A TrainingRun over diffusion batches: Node's train() and the page's Trainer both make it here. */
export function diffusionRun(d: DiffusionRunInit, o: Omit<TrainingRunInit<Batch>, 'feed' | 'scalars'>): TrainingRun<Batch> {
  return new TrainingRun<Batch>({
    ...o,
    feed: (batch) => makeFeeds(batch, d.config, d.graph, d.rng, d.hyper.tRange, d.hyper.condDropout, d.nulls),
    scalars: (k) => stepScalars(k, d.hyper.schedule),
  });
}
