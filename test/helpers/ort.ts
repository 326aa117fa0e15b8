import * as assert from 'node:assert/strict';
import { Builder, Value } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Dim, Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { Arr } from './ref';

/** mulberry32: a tiny seeded generator for test data, independent of src/. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float32 tensor of uniform values in [lo, hi), dims concrete. */
export function randTensor(dims: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = random(seed);
  return Tensor.float32(dims, Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => lo + (hi - lo) * r()));
}

export const toArr = (t: Tensor): Arr => ({ shape: [...t.dims], data: t.toNumbers() });

/** Evaluates a builder dim with symbols bound, e.g. '(N*2)' with N = 3 -> 6. */
export function evalDim(d: Dim, env: Record<string, number>): number {
  if (typeof d === 'number') return d;
  const expr = d.replace(/[A-Za-z_][A-Za-z_0-9]*/g, (s) => {
    if (!(s in env)) throw new Error(`dim '${d}' has unbound symbol '${s}'`);
    return String(env[s]);
  });
  // Slices of a symbolic dim read d[start:end:step] (Python-style bounds, clamped like ONNX Slice).
  let e = expr;
  const sl = /(-?\d+)\[(-?\d+):(-?\d+):(-?\d+)\]/;
  for (let m = sl.exec(e); m; m = sl.exec(e)) {
    const [d0, s0, e0, k] = m.slice(1).map(Number);
    const len = k > 0
      ? Math.max(0, Math.ceil((Math.min(Math.max(e0 < 0 ? e0 + d0 : e0, 0), d0) - Math.min(Math.max(s0 < 0 ? s0 + d0 : s0, 0), d0)) / k))
      : Math.max(0, Math.ceil((Math.min(Math.max(e0 < 0 ? e0 + d0 : e0, -1), d0 - 1) - Math.min(Math.max(s0 < 0 ? s0 + d0 : s0, 0), d0 - 1)) / k));
    e = e.replace(m[0], String(len));
  }
  if (!/^[0-9+\-*/() ]+$/.test(e)) throw new Error(`dim '${d}' is not arithmetic over known symbols`);
  return Math.trunc(Function(`"use strict"; return (${e});`)() as number);
}

/**
 * Marks `outs` as graph outputs, runs the graph in onnxruntime-node on `feeds`, and checks that
 * every builder-inferred shape (symbols bound from `env`) equals the dims ORT returns.
 */
export async function runBuilt(b: Builder, outs: Value[], feeds: Record<string, Tensor>, env: Record<string, number> = {}): Promise<Tensor[]> {
  outs.forEach((v, i) => b.output(v, `out${i}`));
  const session = await NodeSession.create(newModel(b.graph));
  try {
    const res = await session.run(feeds);
    return outs.map((v, i) => {
      const t = res[`out${i}`];
      const inferred = v.shape.map((d) => evalDim(d, env));
      assert.deepEqual(inferred, t.dims, `builder shape [${v.shape.join(',')}] vs ORT dims [${t.dims.join(',')}] for output ${i}`);
      assert.equal(v.dtype, t.dtype, `builder dtype of output ${i}`);
      return t;
    });
  } finally {
    await session.release();
  }
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, with the same shape. */
export function assertClose(actual: Tensor | Arr, expected: Arr, tol: { atol?: number; rtol?: number } = {}, what = ''): void {
  const a = actual instanceof Tensor ? toArr(actual) : actual;
  assert.deepEqual(a.shape, expected.shape, `${what} shape`);
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-5;
  for (let i = 0; i < a.data.length; i++) {
    const [x, y] = [a.data[i], expected.data[i]];
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
      assert.fail(`${what} element ${i}: got ${x}, expected ${y} (atol ${atol}, rtol ${rtol})`);
    }
  }
}
