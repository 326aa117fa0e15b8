/**
 * GroupNorm(G) over NCHW: statistics per (sample, group of C/G channels), then a per-channel affine
 * `<scope>.weight` (gamma, ones) and `<scope>.bias` (beta, zeros), both [C] as in PyTorch.
 * Opset 17 has no GroupNormalization; the formulations below compute the same function, and
 * tools/bench-groupnorm.ts times them (forward and backward) under ONNX Runtime CPU; docs/nn.md
 * has the figures behind the default.
 */
import type { Builder, Value } from '../onnx/builder';
import { constant } from './constant';

/**
 * - `instancenorm`: Reshape [N,G,-1] + InstanceNormalization(ones, zeros) + Reshape (PyTorch's export).
 * - `explicit`: Reshape + ReduceMean, Sub, Mul, ReduceMean, Add eps, Sqrt, Div + Reshape.
 * - `layernorm`: Reshape + LayerNormalization(axis -1, scale ones) + Reshape.
 */
export type GroupNormFormulation = 'instancenorm' | 'explicit' | 'layernorm';

export const DEFAULT_GROUPNORM: GroupNormFormulation = 'instancenorm';

export interface GroupNormOptions {
  eps?: number;
  formulation?: GroupNormFormulation;
}

function staticDims(x: Value, where: string): number[] {
  const [, ...rest] = x.shape;
  if (rest.some((d) => typeof d !== 'number')) throw new Error(`${where}: dims after the batch must be static, got [${x.shape.join(',')}]`);
  return rest as number[];
}

/** Normalises each group to zero mean, unit variance (no affine); x is [N, C, ...]. */
export function groupStandardize(b: Builder, x: Value, groups: number, o: GroupNormOptions = {}): Value {
  const eps = o.eps ?? 1e-5;
  const dims = staticDims(x, 'groupNorm');
  const c = dims[0];
  if (c % groups !== 0) throw new Error(`groupNorm: ${c} channels are not divisible by ${groups} groups`);
  const groupSize = dims.reduce((p, d) => p * d, 1) / groups;
  const xr = b.reshape(x, [0, groups, -1]);
  let y: Value;
  switch (o.formulation ?? DEFAULT_GROUPNORM) {
    case 'instancenorm':
      y = b.instanceNorm(xr, constant(b, new Array<number>(groups).fill(1)), constant(b, new Array<number>(groups).fill(0)), eps);
      break;
    case 'layernorm': {
      // ones [L] built at load time (Expand of a scalar) so the file does not store L floats
      const ones = b.expand(constant(b, 1), [groupSize]);
      y = b.layerNorm(xr, ones, null, -1, eps);
      break;
    }
    case 'explicit': {
      const mean = b.reduceMean(xr, [-1]);
      const d = b.sub(xr, mean);
      const variance = b.reduceMean(b.mul(d, d), [-1]);
      y = b.div(d, b.sqrt(b.add(variance, constant(b, eps))));
      break;
    }
  }
  return b.reshape(y, [0, ...dims]);
}

/** GroupNorm with learned per-channel affine; parameters under the current scope. */
export function groupNorm(b: Builder, x: Value, groups: number, o: GroupNormOptions = {}): Value {
  const dims = staticDims(x, 'groupNorm');
  const c = dims[0];
  const gamma = b.param('weight', [c], 'ones');
  const beta = b.param('bias', [c], 'zeros');
  const spatial = dims.slice(1).map(() => 1);
  // [C] -> [C,1,1] broadcasts over H, W (Reshape of the parameter keeps its PyTorch layout)
  const shape = [c, ...spatial];
  const y = groupStandardize(b, x, groups, o);
  return b.add(b.mul(y, b.reshape(gamma, shape)), b.reshape(beta, shape));
}
