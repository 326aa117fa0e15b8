/**
 * Runs a training graph (train-graph.ts) step by step in onnxruntime-node: holds the flat
 * parameters, AdamW moments and EMA on the host and feeds them back each step. The host picks the
 * learning rate and EMA decay per step (lr.ts has the usual schedules).
 */
import { Model } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';
import { NodeSession, SessionOptions } from '../runtime/node';
import { flattenParams, unflattenInto } from './params';
import { optimizerFeeds, TrainGraph } from './train-graph';

export interface GraphStepOptions {
  lr: number;
  /** EMA decay of this step (default 0: the EMA is the weights). */
  emaDecay?: number;
  /** Global gradient-norm clip (default: none). */
  maxNorm?: number;
}

export class GraphTrainer {
  /** Optimizer steps taken so far. */
  step = 0;

  private constructor(
    readonly graph: TrainGraph,
    private readonly session: NodeSession,
    public vec: { params: Float32Array; m: Float32Array; v: Float32Array; ema: Float32Array },
  ) {}

  /** A trainer starting from `model`'s own weights (the model the graph was built from). */
  static async create(graph: TrainGraph, model: Model, options: SessionOptions = {}): Promise<GraphTrainer> {
    const params = flattenParams(model.graph, graph.layout);
    const session = await NodeSession.create(graph.model, options);
    const n = params.length;
    return new GraphTrainer(graph, session, { params, m: new Float32Array(n), v: new Float32Array(n), ema: Float32Array.from(params) });
  }

  /** One optimizer step on one batch (`data` holds every name in graph.dataInputs). */
  async run(data: Record<string, Tensor>, o: GraphStepOptions): Promise<{ loss: number; gradNorm: number }> {
    const feeds = {
      ...data,
      ...optimizerFeeds(this.vec, { step: this.step + 1, lr: o.lr, emaDecay: o.emaDecay ?? 0, maxNorm: o.maxNorm ?? 3e38 }),
    };
    const r = await this.session.run(feeds);
    const f = (k: string) => r[k].data as Float32Array;
    this.vec = { params: f('params_out'), m: f('m_out'), v: f('v_out'), ema: f('ema_out') };
    this.step++;
    return { loss: f('loss')[0], gradNorm: f('grad_norm')[0] };
  }

  /** `model` with the current raw (`params`) or averaged (`ema`) weights written in. */
  modelWith(model: Model, which: 'params' | 'ema' = 'ema'): Model {
    const graph = model.graph.clone();
    unflattenInto(graph, this.graph.layout, this.vec[which]);
    return { ...model, graph, metadata: { ...model.metadata } };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
