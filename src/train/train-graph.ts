/**
 * The one training-graph builder, for any model and any loss (losses.ts: the diffusion loss, the
 * classifier's cross-entropy, or the caller's own). The model's trainable initializers become one
 * flat `params` input, the loss is appended to its outputs, autodiff appends the backward pass, and
 * the shared optimizer (optim.ts: global-norm clipping, AdamW, EMA) appends the update:
 *
 *   step(params, m, v, ema, step, lr, ema_decay, max_norm, <data inputs>)
 *     -> (params_out, m_out, v_out, ema_out, loss, grad_norm)
 *
 * With optimizer 'none' the weights stay initializers and the outputs are `loss` and
 * `grad/<name>` per trainable weight (for gradient checks). step-graph.ts is this builder under
 * the diffusion loss.
 */
import { grad } from '../autodiff/grad';
import type { ConvGradOptions } from '../autodiff/rules/conv';
import { DiffusionError } from '../core/errors';
import { Builder, Value } from '../onnx/builder';
import { Graph, Model, newModel } from '../onnx/ir';
import { sortTopologically } from '../onnx/topo';
import { Tensor } from '../onnx/tensor';
import { LossSpec, lossOf, TrainLoss } from './losses';
import { optimizeStepGraph } from './optimize';
import { AdamWConfig, appendOptimizer, DEFAULT_ADAMW } from './optim';
import { ParamLayout, trainableLayout } from './params';

export { crossEntropyLoss, type CrossEntropyLoss, type LossBuilder, type LossSpec, type TrainLoss } from './losses';

export interface TrainGraphOptions {
  /** 'adamw' (default): the full training step; 'none': loss and grad/<param> outputs only. */
  optimizer?: 'adamw' | 'none';
  /** Glob(s) selecting which float initializers train (see namePredicate). */
  trainable?: string;
  adamw?: Partial<AdamWConfig>;
  /** Fixed batch size: every symbolic leading dim of the inputs becomes this (else symbolic `N`). */
  batch?: number;
  /** Conv-gradient formulations of the backward pass (default DEFAULT_CONV_GRAD). */
  conv?: Partial<ConvGradOptions>;
  /** Run the step-graph optimiser (src/train/optimize) over the result (default true). */
  optimize?: boolean;
  /** Gradient checkpointing of block activations (autodiff/grad.ts `recompute`); default off. */
  recompute?: boolean;
}

export interface TrainGraph {
  model: Model;
  layout: ParamLayout;
  /** What the host feeds each step besides the optimizer state: model inputs, then loss inputs. */
  dataInputs: string[];
}

/**
 * Replaces the layout's initializers by slices of one flat float32 input `params`, each reshaped
 * to its dims under its original name, so the model's nodes read it unchanged. Returns `params`.
 */
export function paramsAsInput(b: Builder, layout: ParamLayout): Value {
  for (const s of layout.slots) b.graph.initializers.delete(s.name);
  const flat = b.input('params', 'float32', [layout.total]);
  b.scope('params', () => {
    for (const s of layout.slots) {
      const piece = b.slice(flat, [s.offset], [s.offset + s.size], [0]);
      b.node('Reshape', [piece, b.ints(s.dims, 'dims')], {}, 1, [s.name]);
    }
  });
  return flat;
}

/** Builds the training step (or gradient graph) of `model` under `loss`; see the file comment. */
export function buildTrainGraph(model: Model, loss: LossSpec | TrainLoss, options: TrainGraphOptions = {}): TrainGraph {
  const graph = model.graph.clone();
  graph.name = 'train_step';
  const layout = trainableLayout(graph, options.trainable);
  const N = pinBatch(graph, options.batch);
  const spec = lossOf(loss);
  // Shapes are inferred over the intact model first, so every value has its facts for autodiff.
  const b = new Builder(graph);
  const outputs: Record<string, Value> = Object.fromEntries(graph.outputs.map((o) => [o.name, b.value(o.name)]));
  spec.prepare?.(graph, N);
  graph.outputs = [];
  const flat = options.optimizer === 'none' ? undefined : paramsAsInput(b, layout);
  sortTopologically(graph);
  const value = spec.build(b, outputs);
  if (value.shape.length !== 0) throw new DiffusionError(`the loss must be a scalar, got shape [${value.shape.join(', ')}]`);
  const dataInputs = graph.inputs.map((i) => i.name).filter((n) => n !== flat?.name);
  const grads = grad(b, { of: value.name, wrt: layout.slots.map((s) => s.name), conv: options.conv, recompute: options.recompute });
  if (!flat) {
    b.output(value, 'loss');
    for (const s of layout.slots) b.output(grads.get(s.name)!, `grad/${s.name}`);
  } else {
    appendOptimizer(b, flat, layout, grads, value, { ...DEFAULT_ADAMW, ...options.adamw });
  }
  return { model: finish(model, graph, options.optimize ?? true), layout, dataInputs };
}

/** A fixed batch makes every shape static (faster graphs, and rules that need static sizes work). */
function pinBatch(graph: Graph, batch: number | undefined): number | string {
  if (batch === undefined) return 'N';
  if (!Number.isInteger(batch) || batch < 1) throw new DiffusionError(`batch must be a positive integer, got ${batch}`);
  for (const i of graph.inputs) if (i.shape && i.shape.length > 0 && typeof i.shape[0] === 'string') i.shape[0] = batch;
  return batch;
}

function finish(model: Model, graph: Graph, optimize: boolean): Model {
  sortTopologically(graph);
  if (optimize) optimizeStepGraph(graph);
  const m = newModel(graph, { ...model.metadata });
  if (model.opsetImports.some((o) => o.domain === '' && o.version >= 17)) m.opsetImports = [...model.opsetImports];
  return m;
}

/** The flat vectors a training step reads and returns: weights, AdamW moments, EMA. */
export interface TrainVectors {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  ema: Float32Array;
}

/** The per-step scalars of the optimizer: 1-based step count, lr, EMA decay, clip norm. */
export interface StepScalars {
  step: number;
  lr: number;
  emaDecay: number;
  maxNorm: number;
}

/** Feeds for one optimizer step: the four vectors, the 1-based step count and the scalars. */
export function optimizerFeeds(vec: TrainVectors, s: StepScalars): Record<string, Tensor> {
  const flat = (a: Float32Array) => new Tensor('float32', [a.length], a);
  return {
    params: flat(vec.params), m: flat(vec.m), v: flat(vec.v), ema: flat(vec.ema),
    step: Tensor.scalar(s.step), lr: Tensor.scalar(s.lr), ema_decay: Tensor.scalar(s.emaDecay), max_norm: Tensor.scalar(s.maxNorm),
  };
}
