import * as path from 'node:path';
import { readdirSync } from 'node:fs';
import { Tensor } from '../../src/onnx/tensor';
import type { Recipe } from '../../src/core/recipe';

export const GRAPHS = path.join(__dirname, '..', '..', 'graphs');

export function recipeFiles(): string[] {
  return readdirSync(GRAPHS).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(GRAPHS, f));
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomArray(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

/** Feeds for every input a recipe's model takes, batch n. */
export function feedsFor(r: Recipe, n: number): Record<string, Tensor> {
  const { channels: c, size: s } = r.image;
  const T = r.diffusion.timesteps;
  const feeds: Record<string, Tensor> = {
    x: new Tensor('float32', [n, c, s, s], randomArray(n * c * s * s, 7)),
    t: Tensor.int64([n], Array.from({ length: n }, (_, i) => Math.floor((i * (T - 1)) / Math.max(1, n - 1)))),
  };
  const cond = r.conditioning;
  if (cond.classes) feeds.class = Tensor.int64([n], Array.from({ length: n }, (_, i) => (i === n - 1 ? cond.classes as number : i % (cond.classes as number))));
  if (cond.labels) feeds.labels = Tensor.float32([n, cond.labels], Array.from({ length: n * cond.labels }, (_, i) => i % 3 === 0 ? 1 : 0));
  if (cond.condChannels) feeds.cond = new Tensor('float32', [n, cond.condChannels, s, s], randomArray(n * cond.condChannels * s * s, 9));
  if (cond.augment) feeds.aug = Tensor.int64([n], Array.from({ length: n }, (_, i) => i * 100));
  return feeds;
}
