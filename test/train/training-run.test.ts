import assert from 'node:assert/strict';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { buildTrainGraph } from '../../src/train/train-graph';
import { freshVectors, TrainingRun, type Feeds } from '../../src/train/training-run';

const N = 4;
const W0 = [0.5, -0.3, 0.2, 0.8, -0.6, 0.1];

/** y = x W (x [4, 3], W [3, 2]) under loss = mean((y - target)^2). */
function linearModel() {
  const b = new Builder();
  const x = b.input('x', 'float32', [N, 3]);
  b.output(b.matmul(x, b.initializer('W', Tensor.float32([3, 2], W0))), 'y');
  const model = newModel(b.graph);
  const graph = buildTrainGraph(model, {
    kind: 'custom',
    build: (bb, o) => {
      const d = bb.sub(o.y, bb.input('target', 'float32', [N, 2]));
      return bb.op('ReduceMean', [bb.mul(d, d)], { keepdims: 0 });
    },
  }, { batch: N });
  return { model, graph };
}

const X = [1, 2, -1, 0.5, -1, 2, -2, 1, 0, 1.5, 0.5, -0.5];
const T = [1, 0, 0, 1, -1, 2, 0.5, 0.5];

/**
 * The same steps in float64 JavaScript: dL/dW = (2 / 8) x^T (x W - target), clipped to the global
 * norm c as torch's clip_grad_norm_ (g * min(1, c / (|g| + 1e-6))), then AdamW (b1 0.9, b2 0.999,
 * eps 1e-8, no decay) and the EMA e <- p + d (e - p) of the new weights.
 */
function reference(steps: { lr: number; maxNorm: number; emaDecay: number }[]): { p: number[]; m: number[]; v: number[]; e: number[]; losses: number[] } {
  let p = [...W0];
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  let e = [...W0];
  const losses: number[] = [];
  steps.forEach((s, k) => {
    const r = Array.from({ length: N * 2 }, (_, i) => {
      const [n, j] = [Math.floor(i / 2), i % 2];
      return X[n * 3] * p[j] + X[n * 3 + 1] * p[2 + j] + X[n * 3 + 2] * p[4 + j] - T[i];
    });
    losses.push(r.reduce((a, x) => a + x * x, 0) / (N * 2));
    let g = p.map((_, w) => {
      const [i, j] = [Math.floor(w / 2), w % 2];
      let sum = 0;
      for (let n = 0; n < N; n++) sum += X[n * 3 + i] * r[n * 2 + j];
      return (2 / (N * 2)) * sum;
    });
    const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
    g = g.map((x) => x * Math.min(1, s.maxNorm / (norm + 1e-6)));
    m = m.map((x, i) => 0.9 * x + 0.1 * g[i]);
    v = v.map((x, i) => 0.999 * x + 0.001 * g[i] * g[i]);
    const t = k + 1;
    p = p.map((x, i) => x - (s.lr / (1 - 0.9 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
    e = e.map((x, i) => p[i] + s.emaDecay * (x - p[i]));
  });
  return { p, m, v, e, losses };
}

describe('train/TrainingRun: the one training loop body', () => {
  let session: NodeSession;
  const { model, graph } = linearModel();
  before(async () => {
    session = await NodeSession.create(graph.model);
  });
  after(async () => session.release());

  const plan = [{ lr: 0.1, maxNorm: 0.5, emaDecay: 0.9 }, { lr: 0.05, maxNorm: 100, emaDecay: 0.5 }, { lr: 0.1, maxNorm: 0.5, emaDecay: 0 }];
  const makeRun = () => new TrainingRun<Feeds>({
    run: (feeds) => session.run(feeds),
    vec: freshVectors(model, graph),
    feed: (data) => data,
    scalars: (k) => ({ step: k + 1, ...plan[k] }),
    kept: (k) => `the weights of step ${k} are kept`,
  });
  const batch = (x = X): Feeds => ({ x: Tensor.float32([N, 3], x), target: Tensor.float32([N, 2], T) });

  it('three steps (clipped and not, lr and EMA decay per step) equal AdamW with global-norm clipping and EMA computed in float64', async () => {
    const run = makeRun();
    for (let k = 0; k < 3; k++) assert.equal((await run.next(batch())).step, k + 1);
    const want = reference(plan);
    const close = (got: ArrayLike<number>, exp: number[], what: string) =>
      exp.forEach((x, i) => assert.ok(Math.abs(got[i] - x) <= 1e-5 * Math.max(1, Math.abs(x)), `${what}[${i}]: ${got[i]} vs ${x}`));
    close(run.vec.params, want.p, 'params');
    close(run.vec.m, want.m, 'm');
    close(run.vec.v, want.v, 'v');
    close(run.vec.ema, want.e, 'ema');
    close(run.losses, want.losses, 'loss');
    assert.equal(run.step, 3);
  });

  it('a non-finite loss throws naming the step and the lr, and keeps the vectors, step and losses of the last good step', async () => {
    const run = makeRun();
    await run.next(batch());
    await run.next(batch());
    const before = { vec: run.vec, losses: [...run.losses] };
    const bad = [...X];
    bad[4] = NaN;
    await assert.rejects(run.next(batch(bad)), /^DiffusionError: loss is NaN at step 3 \(learning rate 1\.00e-1 too high\?\); the weights of step 2 are kept$/);
    assert.equal(run.step, 2);
    assert.equal(run.vec, before.vec);
    assert.deepEqual(run.losses, before.losses);
    // The run goes on from there.
    assert.equal((await run.next(batch())).step, 3);
  });
});
