/**
 * Losses for the one training-graph builder (train-graph.ts): each turns a model's outputs into
 * one scalar, declaring the inputs it needs. The classifier's cross-entropy and the diffusion loss
 * sit side by side; a caller may pass its own (`{ kind: 'custom', build }` or a TrainLoss).
 */
import type { ModelConfig } from '../core/model-config';
import { DiffusionError } from '../core/errors';
import { minSnrWeights } from '../diffusion/objectives';
import { makeSchedule } from '../diffusion/schedules';
import type { Builder, Value } from '../onnx/builder';
import type { Graph, ValueInfo } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';
import { sortTopologically } from '../onnx/topo';

/**
 * Builds the scalar loss from the model's outputs (by name). It may declare graph inputs of its
 * own (targets, labels, weights) with `b.input`; they are fed with the model's inputs each step.
 */
export type LossBuilder = (b: Builder, outputs: Record<string, Value>) => Value;

/** A loss that may also adapt the model's inputs (the diffusion loss computes the denoiser's `x`). */
export interface TrainLoss {
  /** Runs once the model's shapes are inferred, before parameters and loss are appended. */
  prepare?(graph: Graph, batch: number | string): void;
  build: LossBuilder;
}

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

/** The loss a spec names, as a TrainLoss. */
export function lossOf(spec: LossSpec | TrainLoss): TrainLoss {
  if (!('kind' in spec)) return spec;
  return { build: spec.kind === 'cross-entropy' ? crossEntropyLoss(spec) : spec.build };
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

/** The denoiser's noisy input, timestep and prediction (one place, so role lookup can change here). */
export function denoiserIO(graph: Graph): { x: ValueInfo; t: ValueInfo; out: ValueInfo } {
  const x = graph.inputs.find((i) => i.name === 'x');
  const t = graph.inputs.find((i) => i.name === 't');
  const out = graph.outputs.find((o) => o.name === 'out') ?? graph.outputs[0];
  if (!x || !t || !out) throw new DiffusionError(`the model needs inputs 'x' and 't' and an output (has ${graph.inputs.map((i) => i.name).join(', ')})`);
  return { x, t, out };
}

/** 'tables': x_t formed in-graph from x0, noise, t; 'host': the host feeds x_t and the target (cold diffusion). */
export type ForwardProcess = 'tables' | 'host';

export const forwardProcessOf = (config: ModelConfig): ForwardProcess => (config.kind === 'cold-blur' ? 'host' : 'tables');

/** Per-timestep coefficients of x_t = a[t] x0 + b[t] noise. */
function forwardTables(config: ModelConfig): { a: Float32Array; s: Float32Array } {
  const T = config.diffusion.timesteps;
  if (config.kind === 'toy') {
    // Toy diffusion: x = (1 - amount) x0 + amount noise, amount = t / (T - 1).
    const amount = Float32Array.from({ length: T }, (_, t) => t / (T - 1));
    return { a: amount.map((v) => 1 - v), s: amount };
  }
  const sch = makeSchedule(config.diffusion);
  return { a: Float32Array.from(sch.sqrtAlphasCumprod), s: Float32Array.from(sch.sqrtOneMinusAlphasCumprod) };
}

export interface DiffusionLossOptions {
  /** Min-SNR-gamma loss weighting (Hang et al. 2023); off when undefined. */
  minSnrGamma?: number;
}

/**
 * The denoising loss (docs/diffusion.md): the denoiser's input `x` becomes x_t formed from the
 * step's inputs x0, noise, t (or fed by the host for cold diffusion), and
 * loss = mean((net(x_t, t) - target)^2) [* min-SNR weight(t)], as F.mse_loss.
 */
export function diffusionLoss(config: ModelConfig, o: DiffusionLossOptions = {}): TrainLoss {
  const forward = forwardProcessOf(config);
  let outName = '';
  let imgShape: (number | string)[] = [];
  return {
    prepare(graph, N) {
      const io = denoiserIO(graph);
      outName = io.out.name;
      imgShape = [N, config.image.channels, config.image.size, config.image.size];
      // The denoiser's `x` becomes an internal value formed from the step's inputs; `t` stays an input.
      graph.inputs = graph.inputs.filter((i) => i !== io.x);
      for (const i of graph.inputs) if (i.shape && i.shape.length > 0) i.shape[0] = N;
    },
    build(b, outputs) {
      const t = b.value('t');
      const { xt, target } = forward === 'host' ? hostForward(b, imgShape) : tableForward(b, config, t, imgShape);
      // Feed the denoiser: its former input x is now produced here.
      b.node('Identity', [xt], {}, 1, ['x']);
      sortTopologically(b.graph);
      const diff = b.sub(outputs[outName], target);
      let sq = b.mul(diff, diff);
      if (o.minSnrGamma !== undefined && forward === 'tables') {
        const w = minSnrWeights(makeSchedule(config.diffusion).alphasCumprod, o.minSnrGamma, config.diffusion.prediction);
        const wt = b.gather(b.initializer('train/min_snr_weight', new Tensor('float32', [w.length], w)), t);
        sq = b.mul(sq, b.reshape(wt, [-1, 1, 1, 1]));
      }
      // F.mse_loss: mean over all elements.
      return b.op('ReduceMean', [sq], { keepdims: 0 });
    },
  };
}

function hostForward(b: Builder, imgShape: (number | string)[]): { xt: Value; target: Value } {
  return { xt: b.input('xt', 'float32', imgShape), target: b.input('target', 'float32', imgShape) };
}

function tableForward(b: Builder, config: ModelConfig, t: Value, imgShape: (number | string)[]): { xt: Value; target: Value } {
  const x0 = b.input('x0', 'float32', imgShape);
  const noise = b.input('noise', 'float32', imgShape);
  const { a, s } = forwardTables(config);
  const T = config.diffusion.timesteps;
  const coef = (name: string, table: Float32Array) =>
    b.reshape(b.gather(b.initializer(`train/${name}`, new Tensor('float32', [T], table)), t), [-1, 1, 1, 1]);
  const ca = coef('coef_x0', a);
  const cs = coef('coef_noise', s);
  // Ho et al. 2020 eq. 4: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
  const xt = b.add(b.mul(ca, x0), b.mul(cs, noise));
  const p = config.kind === 'toy' ? 'x0' : config.diffusion.prediction;
  // v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022).
  const target = p === 'eps' ? noise : p === 'x0' ? x0 : b.sub(b.mul(ca, noise), b.mul(cs, x0));
  return { xt, target };
}
