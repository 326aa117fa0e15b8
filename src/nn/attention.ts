import type { Builder, Value } from '../onnx/builder';
import { constant } from './constant';
import { conv2d } from './conv';
import { groupNorm, GroupNormFormulation } from './norm';

/**
 * Multi-head self-attention over the H*W positions of x [N, C, H, W], with residual:
 *   q, k, v = split(qkv(norm(x)))          1x1 conv to 3C channels, ordered [q | k | v], each
 *                                          [head 0 | head 1 | ...] of d = C / heads channels
 *   a = softmax(q^T k / sqrt(d))           [N, heads, HW, HW]   (Vaswani et al. 2017, eq. 1)
 *   out = x + proj(a v^T)                  1x1 conv
 * Parameters: `norm.weight|bias`, `qkv.weight|bias` [3C, C, 1, 1], `proj.weight|bias` [C, C, 1, 1].
 */
export function attentionBlock(b: Builder, x: Value, heads: number, groups: number, norm?: GroupNormFormulation): Value {
  const [, c, hh, ww] = x.shape as [string, number, number, number];
  if (c % heads !== 0) throw new Error(`attention: ${c} channels are not divisible by ${heads} heads`);
  const d = c / heads;
  const hw = hh * ww;
  const h = b.scope('norm', () => groupNorm(b, x, groups, { formulation: norm }));
  const qkv = b.scope('qkv', () => conv2d(b, h, 3 * c, { kernel: 1 }));
  const [q, k, v] = b.split(b.reshape(qkv, [0, 3 * heads, d, hw]), [heads, heads, heads], 1); // [N, heads, d, HW]
  // scaling q (d*HW elements) is cheaper than scaling the HW*HW scores
  const qT = b.transpose(b.mul(q, constant(b, 1 / Math.sqrt(d))), [0, 1, 3, 2]); // [N, heads, HW, d]
  const a = b.softmax(b.matmul(qT, k), -1); // [N, heads, HW, HW]
  const o = b.matmul(a, b.transpose(v, [0, 1, 3, 2])); // [N, heads, HW, d]
  const merged = b.reshape(b.transpose(o, [0, 1, 3, 2]), [0, c, hh, ww]);
  return b.add(x, b.scope('proj', () => conv2d(b, merged, c, { kernel: 1 })));
}
