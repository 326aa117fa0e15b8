/**
 * Runs a training graph (train-graph.ts) step by step in onnxruntime-node: a TrainingRun whose
 * batches are the graph's data feeds as given and whose scalars the caller picks per step (lr.ts
 * has the usual schedules).
 */
import { Model } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';
import { NodeSession, SessionOptions } from '../runtime/node';
import { NO_CLIP } from './hyper';
import { unflattenInto } from './params';
import type { TrainGraph, TrainVectors } from './train-graph';
import { type Feeds, freshVectors, TrainingRun } from './training-run';

export interface GraphStepOptions {
  lr: number;
  /** EMA decay of this step (default 0: the EMA is the weights). */
  emaDecay?: number;
  /** Global gradient-norm clip (default: none). */
  maxNorm?: number;
}

export class GraphTrainer {
  private scalars: GraphStepOptions = { lr: 0 };
  private readonly training: TrainingRun<Feeds>;

  private constructor(readonly graph: TrainGraph, private readonly session: NodeSession, vec: TrainVectors) {
    this.training = new TrainingRun<Feeds>({
      run: (feeds) => session.run(feeds),
      vec,
      feed: (data) => data,
      scalars: (k) => ({ step: k + 1, lr: this.scalars.lr, emaDecay: this.scalars.emaDecay ?? 0, maxNorm: this.scalars.maxNorm ?? NO_CLIP }),
      kept: (k) => `the weights of step ${k} are kept`,
    });
  }

  /** A trainer starting from `model`'s own weights (the model the graph was built from). */
  static async create(graph: TrainGraph, model: Model, options: SessionOptions = {}): Promise<GraphTrainer> {
    return new GraphTrainer(graph, await NodeSession.create(graph.model, options), freshVectors(model, graph));
  }

  /** Optimizer steps taken so far. */
  get step(): number {
    return this.training.step;
  }

  get vec(): TrainVectors {
    return this.training.vec;
  }

  /** One optimizer step on one batch (`data` holds every name in graph.dataInputs). */
  async run(data: Record<string, Tensor>, o: GraphStepOptions): Promise<{ loss: number; gradNorm: number }> {
    this.scalars = o;
    const r = await this.training.next(data);
    return { loss: r.loss, gradNorm: r.gradNorm };
  }

  /** `model` with the current raw (`params`) or averaged (`ema`) weights written in. */
  modelWith(model: Model, which: 'params' | 'ema' = 'ema'): Model {
    const graph = model.graph.clone();
    unflattenInto(graph, this.graph.layout, this.vec[which]);
    return { ...model, graph, metadata: { ...model.metadata } };
  }

  /** Frees the ONNX Runtime session. */
  async dispose(): Promise<void> {
    await this.session.dispose();
  }

  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void> {
    return this.dispose();
  }
}
