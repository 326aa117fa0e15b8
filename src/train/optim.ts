import { Builder, Value } from '../onnx/builder';
import type { ParamLayout } from './params';

/** AdamW hyper-parameters baked into the step graph; lr and the step count are graph inputs. */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** Sum of squares of all gradients (one scalar), for global-norm clipping and logging. */
export function globalNorm(b: Builder, grads: Value[]): Value {
  const sums = grads.map((g) => b.op('ReduceSumSquare', [g], { keepdims: 0 }));
  const total = sums.length === 1 ? sums[0] : b.op('Sum', sums);
  return b.sqrt(total);
}

/**
 * Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_: g * min(1, c / (||g|| + 1e-6)).
 * `maxNorm` is a scalar input; a huge value disables clipping.
 */
export function clipByGlobalNorm(b: Builder, grads: Value[], norm: Value, maxNorm: Value): Value[] {
  const ratio = b.div(maxNorm, b.add(norm, b.constant(1e-6)));
  const factor = b.min(ratio, b.constant(1));
  return grads.map((g) => b.mul(g, factor));
}

/**
 * AdamW (Loshchilov & Hutter 2019, Algorithm 2; PyTorch's torch.optim.AdamW ordering):
 *   p <- p - lr * wd * p                        (decoupled weight decay)
 *   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)
 * `step` is the 1-based step count k (float scalar), `lr` a float scalar.
 */
export function adamw(b: Builder, p: Value, g: Value, m: Value, v: Value, lr: Value, step: Value, c: AdamWConfig): { p: Value; m: Value; v: Value } {
  const one = b.constant(1);
  const m2 = b.add(b.scale(m, c.beta1), b.scale(g, 1 - c.beta1));
  const v2 = b.add(b.scale(v, c.beta2), b.scale(b.mul(g, g), 1 - c.beta2));
  const bc1 = b.sub(one, b.pow(b.constant(c.beta1), step));
  const bc2 = b.sub(one, b.pow(b.constant(c.beta2), step));
  // lr / bc1 and 1/sqrt(bc2) are scalars: fold them before touching the big tensors.
  const stepSize = b.div(lr, bc1);
  const denom = b.add(b.div(b.sqrt(v2), b.sqrt(bc2)), b.constant(c.eps));
  const decayed = c.weightDecay > 0 ? b.mul(p, b.sub(one, b.scale(lr, c.weightDecay))) : p;
  const p2 = b.sub(decayed, b.mul(stepSize, b.div(m2, denom)));
  return { p: p2, m: m2, v: v2 };
}

/** EMA of weights: e <- d e + (1 - d) p, with the decay d a scalar input. */
export function ema(b: Builder, e: Value, p: Value, decay: Value): Value {
  // d e + (1 - d) p = p + d (e - p): one fewer full-size multiply.
  return b.add(p, b.mul(decay, b.sub(e, p)));
}

/**
 * Appends the optimizer to a graph holding `loss` and the gradients of the flat `params`:
 * inputs m, v, ema, step, lr, ema_decay, max_norm; outputs params_out, m_out, v_out, ema_out,
 * loss, grad_norm. Global-norm clipping, then AdamW, then the EMA of the new weights. Its nodes are
 * named optim/<op> (the step profiler splits on it).
 */
export function appendOptimizer(b: Builder, flat: Value, layout: ParamLayout, grads: Map<string, Value>, loss: Value, config: AdamWConfig): void {
  const m = b.input('m', 'float32', [layout.total]);
  const v = b.input('v', 'float32', [layout.total]);
  const e = b.input('ema', 'float32', [layout.total]);
  const step = b.input('step', 'float32', []);
  const lr = b.input('lr', 'float32', []);
  const decay = b.input('ema_decay', 'float32', []);
  const maxNorm = b.input('max_norm', 'float32', []);
  const { upd, norm, emaOut } = b.scope('optim', () => {
    const g = b.concat(layout.slots.map((s) => b.reshape(grads.get(s.name)!, [s.size])), 0);
    const norm = globalNorm(b, [g]);
    const [gc] = clipByGlobalNorm(b, [g], norm, maxNorm);
    const upd = adamw(b, flat, gc, m, v, lr, step, config);
    return { upd, norm, emaOut: ema(b, e, upd.p, decay) };
  });
  b.output(upd.p, 'params_out');
  b.output(upd.m, 'm_out');
  b.output(upd.v, 'v_out');
  b.output(emaOut, 'ema_out');
  b.output(loss, 'loss');
  b.output(norm, 'grad_norm');
}
