/**
 * Conditioning embeddings: sinusoidal timestep embedding + MLP, class table with a null row,
 * multi-hot label projection.
 */
import type { Builder, Value } from '../onnx/builder';
import { silu } from './activations';
import { constant } from './constant';
import { linear } from './linear';

/**
 * Frequencies of the DDPM timestep embedding (Ho et al. 2020, `get_timestep_embedding`; diffusers
 * with flip_sin_to_cos=False, downscale_freq_shift=1): f_i = exp(-ln(maxPeriod) * i / (half - 1)).
 */
export function timestepFrequencies(dim: number, maxPeriod = 10000): number[] {
  if (dim % 2 !== 0 || dim < 4) throw new Error(`timestep embedding: dim must be even and >= 4, got ${dim}`);
  const half = dim / 2;
  return Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / (half - 1)));
}

/** emb(t) = [sin(t f_0..f_{half-1}), cos(t f_0..f_{half-1})], computed in-graph from int64 t [N]. */
export function sinusoidalEmbedding(b: Builder, t: Value, dim: number, maxPeriod = 10000): Value {
  const tf = b.unsqueeze(b.cast(t, 'float32'), [1]); // [N, 1]
  const args = b.mul(tf, constant(b, timestepFrequencies(dim, maxPeriod))); // [N, half]
  return b.concat([b.sin(args), b.cos(args)], 1);
}

/** Sinusoidal embedding of t (width `dim`) then Linear(dim, out) - SiLU - Linear(out, out). */
export function timestepMlp(b: Builder, t: Value, dim: number, out: number): Value {
  const e = sinusoidalEmbedding(b, t, dim);
  const h = b.scope('lin1', () => linear(b, e, out));
  return b.scope('lin2', () => linear(b, silu(b, h), out));
}

/**
 * Class embedding table `<scope>.weight` [classes + 1, dim], N(0, 1) init as nn.Embedding. Row
 * `classes` is the null class, what classifier-free guidance feeds for the unconditional pass.
 */
export function classEmbedding(b: Builder, cls: Value, classes: number, dim: number): Value {
  const table = b.param('weight', [classes + 1, dim], { normal: 1 });
  return b.gather(table, cls, 0);
}

/** Multi-hot labels [N, L] -> [N, dim] by a Linear without bias: the zero vector is the null label. */
export function labelEmbedding(b: Builder, labels: Value, dim: number): Value {
  return linear(b, labels, dim, { bias: false });
}
