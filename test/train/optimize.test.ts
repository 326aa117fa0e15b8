import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { grad } from '../../src/autodiff/grad';
import { configFromJson } from '../../src/core/model-config';
import { Rng } from '../../src/core/rng';
import { Builder, Value } from '../../src/onnx/builder';
import { Graph, Model, newModel } from '../../src/onnx/ir';
import { decodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { eliminateCommonSubexpressions, eliminateDeadNodes, fuseSiluBackward, optimizeStepGraph } from '../../src/train/optimize';
import { flattenParams } from '../../src/train/params';
import { buildStepGraph } from '../../src/train/step-graph';
import { maxAbsDiff } from '../helpers/close';

const fixture = resolve(__dirname, '../fixtures/torch-unet-16px.onnx');
const count = (g: Graph, op: string) => g.nodes.filter((n) => n.opType === op).length;

async function run(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const s = await NodeSession.create(model, { threads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

/** A graph over input x [2, 3] built by `f`, with its outputs. */
function small(f: (b: Builder, x: Value) => Value[]): Model {
  const b = new Builder();
  const x = b.input('x', 'float32', [2, 3]);
  f(b, x).forEach((v, i) => b.output(v, `out${i}`));
  return newModel(b.graph);
}
const xFeed = { x: Tensor.float32([2, 3], [0.5, -1, 2, -0.25, 3, 1.5]) };

describe('step-graph optimiser passes', () => {
  it('cse merges identical nodes and Constants, so a chain of duplicates collapses', async () => {
    const m = small((b, x) => {
      const a = b.mul(b.add(x, b.constant(2)), x);
      const c = b.mul(b.add(x, b.constant(2)), x);
      return [b.sub(a, c), b.add(a, c)];
    });
    const before = await run(m, xFeed);
    const n0 = m.graph.nodes.length;
    assert.equal(eliminateCommonSubexpressions(m.graph), 3);
    assert.equal(m.graph.nodes.length, n0 - 3);
    const after = await run(m, xFeed);
    for (const k of Object.keys(before)) assert.deepEqual(after[k], before[k]);
  });

  it('cse leaves near-misses alone: other attributes, other Constant values, swapped inputs', () => {
    const m = small((b, x) => [
      b.op('Softmax', [x], { axis: 0 }), b.op('Softmax', [x], { axis: 1 }),
      b.add(x, b.constant(1)), b.add(x, b.constant(2)),
      b.sub(x, b.constant(3)),
    ]);
    const b2 = new Builder(m.graph);
    const c3 = m.graph.nodes[m.graph.nodes.length - 2].outputs[0];
    b2.output(b2.op('Sub', [b2.value(c3), b2.value('x')]), 'swapped');
    assert.equal(eliminateCommonSubexpressions(m.graph), 0);
  });

  it('dead-nodes removes what no output reads and keeps the rest', () => {
    const m = small((b, x) => {
      b.exp(b.neg(x));
      return [b.sqrt(x)];
    });
    assert.equal(eliminateDeadNodes(m.graph), 2);
    assert.deepEqual(m.graph.nodes.map((n) => n.opType), ['Sqrt', 'Identity']);
  });

  it('silu-backward rewrites the gradient of x * Sigmoid(x) into four ops with the same values', async () => {
    const build = (sig: (b: Builder, x: Value) => Value) => {
      const b = new Builder();
      const x = b.input('x', 'float32', [2, 3]);
      const y = b.mul(x, sig(b, x));
      const g = b.input('g', 'float32', [2, 3]);
      b.output(grad(b, { of: y.name, wrt: ['x'], seed: g }).get('x')!, 'dx');
      return newModel(b.graph);
    };
    const feeds = { ...xFeed, g: Tensor.float32([2, 3], [1, -2, 0.5, 3, -1, 0.25]) };
    const m = build((b, x) => b.sigmoid(x));
    const before = await run(m, feeds);
    const muls = count(m.graph, 'Mul');
    assert.equal(fuseSiluBackward(m.graph), 1);
    assert.equal(count(m.graph, 'Mul'), muls - 2);
    const after = await run(m, feeds);
    assert.ok(maxAbsDiff(after.dx, before.dx) <= 1e-6, `${after.dx} vs ${before.dx}`);
    // Near miss: x * Sigmoid(2x) is not SiLU.
    const near = build((b, x) => b.sigmoid(b.scale(x, 2)));
    assert.equal(fuseSiluBackward(near.graph), 0);
  });

  describe('on the PyTorch fixture step graph (batch 2, AdamW)', () => {
    const model = decodeModel(readFileSync(fixture), fixture);
    const config = configFromJson(JSON.parse(readFileSync(fixture.replace(/\.onnx$/, '.json'), 'utf8')), 'fixture json');
    const B = 2;
    const { channels: c, size } = config.image;
    const rng = new Rng(5);
    const n = B * c * size * size;
    const plain = buildStepGraph(model, config, { batch: B, optimize: false });
    const params = flattenParams(model.graph, plain.layout);
    const P = params.length;
    const feeds: Record<string, Tensor> = {
      params: Tensor.float32([P], params), m: Tensor.float32([P], new Float32Array(P)), v: Tensor.float32([P], new Float32Array(P)),
      ema: Tensor.float32([P], params), step: Tensor.scalar(1), lr: Tensor.scalar(1e-3), ema_decay: Tensor.scalar(0.99), max_norm: Tensor.scalar(1),
      x0: Tensor.float32([B, c, size, size], rng.normalArray(n)), noise: Tensor.float32([B, c, size, size], rng.normalArray(n)), t: Tensor.int64([B], [3, 700]),
    };
    const copy = () => buildStepGraph(model, config, { batch: B, optimize: false }).model;

    it('cse and dead-nodes keep every output bit for bit', async () => {
      const ref = await run(plain.model, feeds);
      const m = copy();
      const stats = optimizeStepGraph(m.graph, [{ name: 'cse', run: eliminateCommonSubexpressions }, { name: 'dead', run: eliminateDeadNodes }]);
      assert.ok(stats.cse > 100, `cse merged ${stats.cse}`);
      const got = await run(m, feeds);
      for (const k of Object.keys(ref)) assert.deepEqual(got[k], ref[k], k);
    });

    // Compared on the gradient graph: at step 1 AdamW moves each weight by ~lr sign(g), so params_out
    // amplifies rounding in gradients near zero and says nothing about the passes.
    it('all passes keep the loss and every gradient within 1e-6 of its scale (silu-backward reorders float ops)', async () => {
      const gradFeeds = { x0: feeds.x0, noise: feeds.noise, t: feeds.t };
      const ref = await run(buildStepGraph(model, config, { batch: B, optimize: false, optimizer: 'none' }).model, gradFeeds);
      const m = buildStepGraph(model, config, { batch: B, optimize: false, optimizer: 'none' }).model;
      const stats = optimizeStepGraph(m.graph);
      assert.ok(stats['silu-backward'] >= 20, `silu-backward rewrote ${stats['silu-backward']}`);
      const got = await run(m, gradFeeds);
      for (const k of Object.keys(ref)) {
        const scale = ref[k].reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        assert.ok(maxAbsDiff(got[k], ref[k]) <= 1e-6 * scale, `${k}: ${maxAbsDiff(got[k], ref[k])}`);
      }
    });

    it('the default conv gradients (unfold-smaller) give the gradients of unfold-matmul within 1e-6 of their scale', async () => {
      const gradFeeds = { x0: feeds.x0, noise: feeds.noise, t: feeds.t };
      const ref = await run(buildStepGraph(model, config, { batch: B, optimizer: 'none', conv: { weightGradient: 'unfold-matmul' } }).model, gradFeeds);
      const got = await run(buildStepGraph(model, config, { batch: B, optimizer: 'none' }).model, gradFeeds);
      for (const k of Object.keys(ref)) {
        const scale = ref[k].reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        assert.ok(maxAbsDiff(got[k], ref[k]) <= 1e-6 * scale, `${k}: ${maxAbsDiff(got[k], ref[k])}`);
      }
    });
  });
});
