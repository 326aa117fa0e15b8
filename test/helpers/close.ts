/** Closeness measures the tests argue their tolerances with. */
import { strict as assert } from 'node:assert';

/** max_k |a_k - b_k|, after checking the lengths agree. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

/** max_k |a_k|. */
export const maxAbs = (a: ArrayLike<number>): number => maxAbsDiff(a, new Float32Array(a.length));
