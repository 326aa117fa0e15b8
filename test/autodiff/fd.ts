import assert from 'node:assert/strict';
import { grad } from '../../src/autodiff/grad';
import type { ConvGradOptions } from '../../src/autodiff/rules/conv';
import { Rng } from '../../src/core/rng';
import { Builder, Value } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { DType, Shape, Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';

/**
 * Directional finite-difference check of `grad`: for f = sum(out * R) with a fixed pseudo-random R
 * (so every output element matters) and a random direction v over all wrt values,
 *   <grad f, v>  ~  (f(p + h v) - f(p - h v)) / 2h.
 * Tolerance: float32 central differences have error ~ eps |f| / h + h^2 |f'''|; with eps ~ 6e-8,
 * |f| ~ 10..100 and h = 1e-2 the first term is ~1e-4 and the second ~1e-4 |f'''|, so a relative
 * tolerance of 1e-2 of max(|lhs|, |rhs|, 1e-3) leaves a 10-100x margin while still catching any
 * wrong term (a missing factor or transposition changes the result by O(1)).
 */
export interface InputSpec {
  /** Declared shape (may hold symbolic dims such as 'N'). */
  shape: Shape;
  /** Concrete dims to run with (defaults to `shape` when all dims are numbers). */
  dims?: number[];
  dtype?: DType;
  /** Fixed contents (e.g. int64 indices); random normal floats otherwise. */
  data?: Tensor;
}

export interface GradCase {
  /** Graph inputs: a static float shape, or a full spec. */
  inputs: Record<string, number[] | InputSpec>;
  build(b: Builder, x: Record<string, Value>): Value;
  /** Values to differentiate (default: every float input). */
  wrt?: string[];
  h?: number;
  tol?: number;
  seed?: number;
  /** Maps a standard normal draw to an input value (e.g. away from kinks of Relu/Abs). */
  sample?: (z: number) => number;
  /** Conv-gradient formulations to check (default: grad's). */
  conv?: Partial<ConvGradOptions>;
}

export interface FdResult {
  lhs: number;
  rhs: number;
}

/** Builds the case's graph and runs the directional check; returns both sides. */
export async function checkGradient(c: GradCase): Promise<FdResult> {
  const rng = new Rng(c.seed ?? 1);
  const b = new Builder();
  const x: Record<string, Value> = {};
  const feeds: Record<string, Tensor> = {};
  for (const [name, s] of Object.entries(c.inputs)) {
    const spec: InputSpec = Array.isArray(s) ? { shape: s } : s;
    const dtype = spec.dtype ?? spec.data?.dtype ?? 'float32';
    x[name] = b.input(name, dtype, spec.shape);
    const dims = spec.dims ?? (spec.shape as number[]);
    feeds[name] = spec.data ?? Tensor.float32(dims, Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => (c.sample ?? ((z) => z))(rng.normal())));
  }
  const out = c.build(b, x);
  const wrt = c.wrt ?? Object.keys(c.inputs).filter((n) => feeds[n].dtype === 'float32');
  return checkBuilt(b, out, feeds, wrt, rng, c);
}

/**
 * The check over an already built graph: appends f = sum(out * R), the backward pass, turns wrt
 * initializers into graph inputs (so they can be perturbed), and compares in ONNX Runtime.
 */
export async function checkBuilt(
  b: Builder,
  out: Value,
  feeds: Record<string, Tensor>,
  wrt: string[],
  rng: Rng,
  opts: { h?: number; tol?: number; alongGradient?: boolean; conv?: Partial<ConvGradOptions> } = {},
): Promise<FdResult> {
  const h = opts.h ?? 1e-2;
  const tol = opts.tol ?? 1e-2;
  // R: a fixed pseudo-random weight per output element, sin(1.618 i + 0.5), built in the graph.
  const n = b.op('Size', [out]);
  const index = b.cast(b.op('Range', [b.constant(0, 'int64'), n, b.constant(1, 'int64')]), 'float32');
  const r = b.reshape(b.sin(b.add(b.scale(index, 1.618), b.constant(0.5))), b.shapeOf(out));
  const f = b.op('ReduceSum', [b.mul(out, r)], { keepdims: 0 });
  b.output(f, 'fd/f'); // not 'f': torch-textcond-16px has an initializer named f
  const grads = grad(b, { of: f.name, wrt, conv: opts.conv });
  wrt.forEach((w, i) => {
    const g = b.identity(grads.get(w)!);
    b.graph.nodes[b.graph.nodes.length - 1].outputs = [`grad_${i}`];
    b.graph.outputs.push({ name: `grad_${i}`, dtype: g.dtype, shape: b.facts(g.name)?.shape });
  });
  for (const w of wrt) {
    const t = b.graph.initializers.get(w);
    if (!t) continue;
    b.graph.initializers.delete(w);
    b.graph.inputs.push({ name: w, dtype: t.dtype, shape: [...t.dims] });
    feeds[w] = t;
  }
  const session = await NodeSession.create(newModel(b.graph));
  try {
    const base = await session.run(feeds);
    const dirs = wrt.map((w) => Float64Array.from({ length: feeds[w].size }, () => rng.normal()));
    if (opts.alongGradient) {
      // v = r + |r| g / |g|: adds the gradient direction so that <g, v> cannot cancel to a value
      // far below the float32 noise of f (see the fixture test); a wrong g still shows up in both
      // the random and the gradient component.
      const gs = wrt.map((_, i) => base[`grad_${i}`].toNumbers());
      const norm = (xs: ArrayLike<number>[]) => Math.sqrt(xs.reduce((p, x) => p + Array.from(x).reduce((q, v) => q + v * v, 0), 0));
      const k = norm(dirs) / Math.max(norm(gs), 1e-30);
      dirs.forEach((d, i) => d.forEach((_, j) => (d[j] += k * gs[i][j])));
    }
    let lhs = 0;
    wrt.forEach((_, i) => {
      const g = base[`grad_${i}`].toNumbers();
      assert.equal(g.length, dirs[i].length, `gradient of '${wrt[i]}' has ${g.length} elements, expected ${dirs[i].length}`);
      for (let k = 0; k < g.length; k++) lhs += g[k] * dirs[i][k];
    });
    const at = async (sign: number) => {
      const moved = { ...feeds };
      wrt.forEach((w, i) => {
        const p = feeds[w].toNumbers();
        moved[w] = Tensor.float32(feeds[w].dims, p.map((v, k) => v + sign * h * dirs[i][k]));
      });
      return (await session.run(moved, ['fd/f']))['fd/f'].toNumbers()[0];
    };
    const rhs = ((await at(1)) - (await at(-1))) / (2 * h);
    const scale = Math.max(Math.abs(lhs), Math.abs(rhs), 1e-3);
    assert.ok(Math.abs(lhs - rhs) <= tol * scale, `directional derivative: autodiff ${lhs} vs finite differences ${rhs}`);
    return { lhs, rhs };
  } finally {
    await session.release();
  }
}
