/**
 * The diffusion training step: the one training-graph builder (train-graph.ts) under the diffusion
 * loss (losses.ts), plus what the host needs to feed it.
 */
import type { ModelConfig } from '../core/model-config';
import type { Model } from '../onnx/ir';
import { denoiserIO, diffusionLoss, type ForwardProcess, forwardProcessOf } from './losses';
import type { ParamLayout } from './params';
import { buildTrainGraph, type TrainGraphOptions } from './train-graph';

export interface StepGraphOptions extends TrainGraphOptions {
  /** Min-SNR-gamma loss weighting (Hang et al. 2023); off when undefined. */
  minSnrGamma?: number;
}

export interface StepGraph {
  model: Model;
  layout: ParamLayout;
  /** Names of the conditioning inputs passed through to the denoiser (class, labels, cond, aug). */
  extraInputs: string[];
  /** 'tables': x_t formed in-graph from x0, noise, t; 'host': the host feeds x_t and the target (cold diffusion). */
  forward: ForwardProcess;
}

/**
 * Builds the training-step graph from a denoiser model (ours or a foreign export):
 * `step(params, m, v, ema, step, lr, ema_decay, max_norm, x0, noise, t[, class|labels|cond|aug])
 *   -> (params', m', v', ema', loss, grad_norm)` with all trainable weights in flat float32
 * vectors sliced inside the graph. With optimizer 'none' it is the plain gradient graph (the model's loss
 * and its backward pass, docs/autodiff.md): weights stay initializers, outputs `loss` and `grad/<name>`.
 */
export function buildStepGraph(model: Model, config: ModelConfig, options: StepGraphOptions = {}): StepGraph {
  const { minSnrGamma, ...rest } = options;
  const { x, t } = denoiserIO(model.graph);
  const extraInputs = model.graph.inputs.filter((i) => i !== x && i !== t).map((i) => i.name);
  const g = buildTrainGraph(model, diffusionLoss(config, { minSnrGamma }), rest);
  return { model: g.model, layout: g.layout, extraInputs, forward: forwardProcessOf(config) };
}
