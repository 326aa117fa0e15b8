import { grad } from '../autodiff/grad';
import type { ConvGradOptions } from '../autodiff/rules/conv';
import { ModelConfig } from '../core/model-config';
import { minSnrWeights } from '../diffusion/objectives';
import { makeSchedule } from '../diffusion/schedules';
import { DiffusionError } from '../core/errors';
import { Builder, Value } from '../onnx/builder';
import { Graph, Model, newModel } from '../onnx/ir';
import { sortTopologically } from '../onnx/topo';
import { Tensor } from '../onnx/tensor';
import { optimizeStepGraph } from './optimize';
import { AdamWConfig, appendOptimizer, DEFAULT_ADAMW } from './optim';
import { ParamLayout, trainableLayout } from './params';

export interface StepGraphOptions {
  /** 'adamw' (default): the full training step; 'none': loss and grad/<param> outputs only. */
  optimizer?: 'adamw' | 'none';
  /** Glob(s) selecting which float initializers train (see namePredicate). */
  trainable?: string;
  adamw?: Partial<AdamWConfig>;
  /** Min-SNR-gamma loss weighting (Hang et al. 2023); off when undefined. */
  minSnrGamma?: number;
  /** Fixed batch size (else symbolic `N`). */
  batch?: number;
  /** Conv-gradient formulations of the backward pass (default DEFAULT_CONV_GRAD). */
  conv?: Partial<ConvGradOptions>;
  /** Run the step-graph optimiser (src/train/optimize) over the result (default true). */
  optimize?: boolean;
  /** Gradient checkpointing of block activations (autodiff/grad.ts `recompute`); default off. */
  recompute?: boolean;
}

export interface StepGraph {
  model: Model;
  layout: ParamLayout;
  /** Names of the conditioning inputs passed through to the denoiser (class, labels, cond, aug). */
  extraInputs: string[];
  /** 'tables': x_t formed in-graph from x0, noise, t; 'host': the host feeds x_t and the target (cold diffusion). */
  forward: 'tables' | 'host';
}

/** Per-timestep coefficients of x_t = a[t] x0 + b[t] noise, and how the target is formed. */
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

/**
 * Builds the training-step graph from a denoiser model (ours or a foreign export):
 * `step(params, m, v, ema, step, lr, ema_decay, max_norm, x0, noise, t[, class|labels|cond|aug])
 *   -> (params', m', v', ema', loss, grad_norm)` with all trainable weights in flat float32
 * vectors sliced inside the graph. With optimizer 'none' it is the plain gradient graph (the model's loss
 * and its backward pass, docs/autodiff.md): weights stay initializers, outputs `loss` and `grad/<name>`.
 */
export function buildStepGraph(model: Model, config: ModelConfig, options: StepGraphOptions = {}): StepGraph {
  const graph = model.graph.clone();
  graph.name = 'train_step';
  const layout = trainableLayout(graph, options.trainable);
  const optimizer = options.optimizer ?? 'adamw';
  const xIn = graph.inputs.find((i) => i.name === 'x');
  const tIn = graph.inputs.find((i) => i.name === 't');
  const outV = graph.outputs.find((o) => o.name === 'out') ?? graph.outputs[0];
  if (!xIn || !tIn || !outV) throw new DiffusionError(`the model needs inputs 'x' and 't' and an output (has ${graph.inputs.map((i) => i.name).join(', ')})`);
  const extraInputs = graph.inputs.filter((i) => i !== xIn && i !== tIn).map((i) => i.name);
  // A fixed batch makes every shape static (faster graphs, and rules that need static sizes work).
  const N: number | string = options.batch ?? 'N';
  if (options.batch) for (const i of graph.inputs) if (i.shape && i.shape.length > 0 && typeof i.shape[0] === 'string') i.shape[0] = options.batch;
  const imgShape = [N, config.image.channels, config.image.size, config.image.size];

  // Inference runs over the intact denoiser first, so every value has its shape for autodiff.
  const b = new Builder(graph);
  // The denoiser's `x` becomes an internal value formed from the step's inputs; `t` stays an input.
  graph.inputs = graph.inputs.filter((i) => i !== xIn);
  for (const i of graph.inputs) if (i.shape && i.shape.length > 0) i.shape[0] = N;
  graph.outputs = [];
  if (optimizer === 'adamw') {
    for (const s of layout.slots) graph.initializers.delete(s.name);
  }

  let flat: Value | undefined;
  if (optimizer === 'adamw') {
    flat = b.input('params', 'float32', [layout.total]);
    // Each weight is a slice of the flat vector reshaped to its dims, under its original name, so
    // the denoiser's nodes read it unchanged.
    const f = flat;
    b.scope('params', () => {
      for (const s of layout.slots) {
        const piece = b.slice(f, [s.offset], [s.offset + s.size], [0]);
        b.node('Reshape', [piece, b.ints(s.dims, 'dims')], {}, 1, [s.name]);
      }
    });
  }

  const forward = config.kind === 'cold-blur' ? 'host' : 'tables';
  const t = b.value('t');
  let xt: Value;
  let target: Value;
  if (forward === 'host') {
    xt = b.input('xt', 'float32', imgShape);
    target = b.input('target', 'float32', imgShape);
  } else {
    const x0 = b.input('x0', 'float32', imgShape);
    const noise = b.input('noise', 'float32', imgShape);
    const { a, s } = forwardTables(config);
    const T = config.diffusion.timesteps;
    const coef = (name: string, table: Float32Array) =>
      b.reshape(b.gather(b.initializer(`train/${name}`, new Tensor('float32', [T], table)), t), [-1, 1, 1, 1]);
    const ca = coef('coef_x0', a);
    const cs = coef('coef_noise', s);
    // Ho et al. 2020 eq. 4: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
    xt = b.add(b.mul(ca, x0), b.mul(cs, noise));
    const p = config.kind === 'toy' ? 'x0' : config.diffusion.prediction;
    // v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022).
    target = p === 'eps' ? noise : p === 'x0' ? x0 : b.sub(b.mul(ca, noise), b.mul(cs, x0));
  }
  // Feed the denoiser: its former input x is now produced here.
  b.node('Identity', [xt], {}, 1, ['x']);
  sortTopologically(graph);

  const out = b.value(outV.name);
  const diff = b.sub(out, target);
  let sq = b.mul(diff, diff);
  if (options.minSnrGamma !== undefined && forward === 'tables') {
    const sch = makeSchedule(config.diffusion);
    const w = minSnrWeights(sch.alphasCumprod, options.minSnrGamma, config.diffusion.prediction);
    const wt = b.gather(b.initializer('train/min_snr_weight', new Tensor('float32', [w.length], w)), t);
    sq = b.mul(sq, b.reshape(wt, [-1, 1, 1, 1]));
  }
  // F.mse_loss: mean over all elements.
  const loss = b.op('ReduceMean', [sq], { keepdims: 0 });
  const grads = grad(b, { of: loss.name, wrt: layout.slots.map((s) => s.name), conv: options.conv, recompute: options.recompute });

  if (optimizer === 'none') {
    b.output(loss, 'loss');
    for (const s of layout.slots) b.output(grads.get(s.name)!, `grad/${s.name}`);
    return { model: finish(model, graph, options.optimize ?? true), layout, extraInputs, forward };
  }

  appendOptimizer(b, flat!, layout, grads, loss, { ...DEFAULT_ADAMW, ...options.adamw });
  return { model: finish(model, graph, options.optimize ?? true), layout, extraInputs, forward };
}

function finish(model: Model, graph: Graph, optimize: boolean): Model {
  sortTopologically(graph);
  if (optimize) optimizeStepGraph(graph);
  const m = newModel(graph, { ...model.metadata });
  m.opsetImports = model.opsetImports.some((o) => o.domain === '' && o.version >= 17) ? [...model.opsetImports] : m.opsetImports;
  return m;
}

