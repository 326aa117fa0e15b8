import type { Builder, Value } from '../onnx/builder';
import { dropout, silu } from './activations';
import { constant } from './constant';
import { conv2d } from './conv';
import { linear } from './linear';
import { groupNorm, GroupNormFormulation } from './norm';

export interface ResBlockOptions {
  groups: number;
  dropout: number;
  training: boolean;
  /** FiLM: norm2(h) * (1 + scale) + shift from the time embedding, instead of adding it. */
  scaleShift: boolean;
  norm?: GroupNormFormulation;
}

/**
 * DDPM residual block. `tembAct` is SiLU(time embedding) [N, D], computed once per network.
 *   h = conv1(SiLU(norm1(x))) (+ temb_proj(tembAct) unless scaleShift)
 *   h = conv2(dropout(SiLU(FiLM?(norm2(h)))))
 *   out = skip(x) + h, skip a 1x1 conv when channels change, else identity.
 */
export function resBlock(b: Builder, x: Value, tembAct: Value, outChannels: number, o: ResBlockOptions): Value {
  const inChannels = x.shape[1] as number;
  const norm = { formulation: o.norm };
  let h = b.scope('norm1', () => groupNorm(b, x, o.groups, norm));
  h = b.scope('conv1', () => conv2d(b, silu(b, h), outChannels));
  const proj = b.scope('temb_proj', () => linear(b, tembAct, o.scaleShift ? 2 * outChannels : outChannels));
  h = b.scope('norm2', () => {
    if (!o.scaleShift) return groupNorm(b, b.add(h, b.reshape(proj, [0, outChannels, 1, 1])), o.groups, norm);
    const [scale, shift] = b.split(b.reshape(proj, [0, 2 * outChannels, 1, 1]), [outChannels, outChannels], 1);
    return b.add(b.mul(groupNorm(b, h, o.groups, norm), b.add(scale, constant(b, 1))), shift);
  });
  h = dropout(b, silu(b, h), o.dropout, o.training);
  h = b.scope('conv2', () => conv2d(b, h, outChannels));
  const skip = inChannels === outChannels ? x : b.scope('skip', () => conv2d(b, x, outChannels, { kernel: 1 }));
  return b.add(skip, h);
}
