/**
 * The training graph for any model and any loss: the general counterpart of the diffusion step
 * graph (step-graph.ts), built the same way. The model's trainable initializers become one flat
 * `params` input, a loss is appended to its outputs, autodiff appends the backward pass, and the
 * shared optimizer (optim.ts: global-norm clipping, AdamW, EMA) appends the update:
 *
 *   step(params, m, v, ema, step, lr, ema_decay, max_norm, <model inputs>, <loss inputs>)
 *     -> (params_out, m_out, v_out, ema_out, loss, grad_norm)
 *
 * With optimizer 'none' the weights stay initializers and the outputs are `loss` and
 * `grad/<name>` per trainable weight (for gradient checks).
 */
import { grad } from '../autodiff/grad';
import { DiffusionError } from '../core/errors';
import { Builder, Value } from '../onnx/builder';
import { Graph, Model, newModel } from '../onnx/ir';
import { sortTopologically } from '../onnx/topo';
import { Tensor } from '../onnx/tensor';
import { AdamWConfig, appendOptimizer, DEFAULT_ADAMW } from './optim';
import { ParamLayout, trainableLayout } from './params';

/**
 * Builds the scalar loss from the model's outputs (by name). It may declare graph inputs of its
 * own (targets, labels, weights) with `b.input`; they are fed with the model's inputs each step.
 */
export type LossBuilder = (b: Builder, outputs: Record<string, Value>) => Value;

/** Mean softmax cross-entropy of `logits` [N, C] against integer class `labels` [N]. */
export interface CrossEntropyLoss {
  kind: 'cross-entropy';
  /** The model output holding the logits (default: the first output). */
  logits?: string;
  /** Name of the int64 [N] labels input the loss adds (default 'labels'). */
  labels?: string;
  /** Label smoothing epsilon (Szegedy et al. 2016): targets (1 - e) one_hot + e / C. Default 0. */
  labelSmoothing?: number;
}

export type LossSpec = CrossEntropyLoss | { kind: 'custom'; build: LossBuilder };

export interface TrainGraphOptions {
  /** 'adamw' (default): the full training step; 'none': loss and grad/<param> outputs only. */
  optimizer?: 'adamw' | 'none';
  /** Glob(s) selecting which float initializers train (see namePredicate). */
  trainable?: string;
  adamw?: Partial<AdamWConfig>;
  /** Fixed batch size: every symbolic leading dim of the inputs becomes this (else symbolic). */
  batch?: number;
}

export interface TrainGraph {
  model: Model;
  layout: ParamLayout;
  /** What the host feeds each step besides the optimizer state: model inputs, then loss inputs. */
  dataInputs: string[];
}

/**
 * Mean cross-entropy: -(1/N) sum_i sum_c y_ic log softmax(z_i)_c, with y the one-hot label
 * (smoothed when asked), as PyTorch's F.cross_entropy(z, y, label_smoothing=e).
 */
export function crossEntropyLoss(spec: Omit<CrossEntropyLoss, 'kind'> = {}): LossBuilder {
  return (b, outputs) => {
    const names = Object.keys(outputs);
    const logits = outputs[spec.logits ?? names[0]];
    if (!logits) throw new DiffusionError(`cross-entropy: the model has no output '${spec.logits}' (outputs: ${names.join(', ')})`);
    const C = logits.shape[1];
    if (logits.shape.length !== 2 || typeof C !== 'number') {
      throw new DiffusionError(`cross-entropy: logits '${logits.name}' must be [N, C] with a static C, got [${logits.shape.join(', ')}]`);
    }
    const labels = b.input(spec.labels ?? 'labels', 'int64', [logits.shape[0]]);
    // one_hot[i, c] = (labels[i] == c), as a float mask [N, C].
    const classIds = b.constant(Array.from({ length: C }, (_, c) => c), 'int64', 'class_ids');
    let target = b.cast(b.equal(b.unsqueeze(labels, [1]), classIds), 'float32');
    const e = spec.labelSmoothing ?? 0;
    if (!(e >= 0 && e < 1)) throw new DiffusionError(`cross-entropy: label smoothing must be in [0, 1), got ${e}`);
    if (e > 0) target = b.add(b.scale(target, 1 - e), b.constant(e / C));
    const nll = b.neg(b.reduceSum(b.mul(target, b.logSoftmax(logits, 1)), [1], false));
    return b.op('ReduceMean', [nll], { keepdims: 0 });
  };
}

/**
 * Replaces the layout's initializers by slices of one flat float32 input `params`, each reshaped
 * to its dims under its original name, so the model's nodes read it unchanged. Returns `params`.
 */
export function paramsAsInput(b: Builder, layout: ParamLayout): Value {
  for (const s of layout.slots) b.graph.initializers.delete(s.name);
  const flat = b.input('params', 'float32', [layout.total]);
  for (const s of layout.slots) {
    const piece = b.slice(flat, [s.offset], [s.offset + s.size], [0]);
    b.node('Reshape', [piece, b.ints(s.dims, 'dims')], {}, 1, [s.name]);
  }
  return flat;
}

/** Builds the training step (or gradient graph) of `model` under `loss`; see the file comment. */
export function buildTrainGraph(model: Model, loss: LossSpec, options: TrainGraphOptions = {}): TrainGraph {
  const graph = model.graph.clone();
  graph.name = 'train_step';
  const layout = trainableLayout(graph, options.trainable);
  const optimizer = options.optimizer ?? 'adamw';
  if (options.batch !== undefined) {
    if (!Number.isInteger(options.batch) || options.batch < 1) throw new DiffusionError(`batch must be a positive integer, got ${options.batch}`);
    for (const i of graph.inputs) if (i.shape && i.shape.length > 0 && typeof i.shape[0] === 'string') i.shape[0] = options.batch;
  }
  const modelInputs = graph.inputs.map((i) => i.name);
  // Shapes are inferred over the intact model first, so every value has its facts for autodiff.
  const b = new Builder(graph);
  const outputs: Record<string, Value> = Object.fromEntries(graph.outputs.map((o) => [o.name, b.value(o.name)]));
  graph.outputs = [];
  const flat = optimizer === 'adamw' ? paramsAsInput(b, layout) : undefined;
  sortTopologically(graph);

  const build = loss.kind === 'cross-entropy' ? crossEntropyLoss(loss) : loss.build;
  const before = new Set(graph.inputs.map((i) => i.name));
  const value = build(b, outputs);
  if (value.shape.length !== 0) throw new DiffusionError(`the loss must be a scalar, got shape [${value.shape.join(', ')}]`);
  const lossInputs = graph.inputs.map((i) => i.name).filter((n) => !before.has(n));
  const grads = grad(b, { of: value.name, wrt: layout.slots.map((s) => s.name) });
  const dataInputs = [...modelInputs, ...lossInputs];

  if (optimizer === 'none') {
    b.output(value, 'loss');
    for (const s of layout.slots) b.output(grads.get(s.name)!, `grad/${s.name}`);
  } else {
    appendOptimizer(b, flat!, layout, grads, value, { ...DEFAULT_ADAMW, ...options.adamw });
  }
  return { model: finish(model, graph), layout, dataInputs };
}

function finish(model: Model, graph: Graph): Model {
  sortTopologically(graph);
  const m = newModel(graph, { ...model.metadata });
  if (model.opsetImports.some((o) => o.domain === '' && o.version >= 17)) m.opsetImports = [...model.opsetImports];
  return m;
}

/** Feeds for one optimizer step: the four vectors, the 1-based step count and the scalars. */
export function optimizerFeeds(
  vec: { params: Float32Array; m: Float32Array; v: Float32Array; ema: Float32Array },
  s: { step: number; lr: number; emaDecay: number; maxNorm: number },
): Record<string, Tensor> {
  const flat = (a: Float32Array) => new Tensor('float32', [a.length], a);
  return {
    params: flat(vec.params), m: flat(vec.m), v: flat(vec.v), ema: flat(vec.ema),
    step: Tensor.scalar(s.step), lr: Tensor.scalar(s.lr), ema_decay: Tensor.scalar(s.emaDecay), max_norm: Tensor.scalar(s.maxNorm),
  };
}
