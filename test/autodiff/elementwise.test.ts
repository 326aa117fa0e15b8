import assert from 'node:assert/strict';
import { grad } from '../../src/autodiff/grad';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { checkGradient } from './fd';

describe('autodiff elementwise rules', () => {
  it('Add gradient matches finite differences with broadcasting [N,3,4] + [3,1]', async () => {
    await checkGradient({ inputs: { a: { shape: ['N', 3, 4], dims: [2, 3, 4] }, b: [3, 1] }, build: (b, x) => b.add(x.a, x.b) });
  });
  it('Add gradient matches finite differences with broadcasting [4] + [2,3,4]', async () => {
    await checkGradient({ inputs: { a: [4], b: [2, 3, 4] }, build: (b, x) => b.add(x.a, x.b) });
  });
  it('Sub gradient matches finite differences with broadcasting', async () => {
    await checkGradient({ inputs: { a: [2, 1, 4], b: [3, 1] }, build: (b, x) => b.sub(x.a, x.b) });
  });
  it('Mul gradient matches finite differences with a symbolic batch', async () => {
    await checkGradient({ inputs: { a: { shape: ['N', 3, 4], dims: [2, 3, 4] }, b: [1, 3, 1] }, build: (b, x) => b.mul(x.a, x.b) });
  });
  it('Mul of a value with itself sums both paths', async () => {
    await checkGradient({ inputs: { a: [3, 4] }, build: (b, x) => b.mul(x.a, x.a) });
  });
  it('Div gradient matches finite differences', async () => {
    await checkGradient({ inputs: { a: [2, 3], b: [3] }, build: (b, x) => b.div(x.a, x.b), sample: (z) => Math.sign(z) * (1 + Math.abs(z)) });
  });
  it('Pow gradient matches finite differences (constant and variable exponent)', async () => {
    await checkGradient({ inputs: { a: [2, 3] }, build: (b, x) => b.pow(x.a, b.constant(3)) });
    await checkGradient({ inputs: { a: [2, 3], e: [3] }, build: (b, x) => b.pow(b.add(b.abs(x.a), b.constant(0.5)), x.e), sample: (z) => 0.5 + Math.abs(z) });
  });
  it('Sum and Mean gradients match finite differences', async () => {
    await checkGradient({ inputs: { a: [2, 3], b: [3], c: [2, 1] }, build: (b, x) => b.op('Sum', [x.a, x.b, x.c]) });
    await checkGradient({ inputs: { a: [2, 3], b: [3] }, build: (b, x) => b.op('Mean', [x.a, x.b]) });
  });
  it('Min and Max gradients match finite differences', async () => {
    await checkGradient({ inputs: { a: [2, 3], b: [2, 3] }, build: (b, x) => b.max(x.a, x.b), h: 1e-3 });
    await checkGradient({ inputs: { a: [2, 3], b: [3] }, build: (b, x) => b.min(x.a, x.b), h: 1e-3 });
  });
});

/** Runs d(sum(w * op(inputs)))/d(inputs) in ONNX Runtime, for fixed inputs that tie exactly. */
async function tieGradients(op: 'Max' | 'Min', inputs: Record<string, Tensor>, w?: Tensor): Promise<Record<string, number[]>> {
  const b = new Builder();
  const xs = Object.entries(inputs).map(([name, t]) => b.input(name, 'float32', [...t.dims]));
  let y = b.op(op, xs);
  if (w) y = b.mul(y, b.constant(w));
  const f = b.op('ReduceSum', [y], { keepdims: 0 });
  b.output(f, 'f');
  const grads = grad(b, { of: f.name, wrt: Object.keys(inputs) });
  for (const name of Object.keys(inputs)) b.output(b.identity(grads.get(name)!), `grad/${name}`);
  const session = await NodeSession.create(newModel(b.graph));
  try {
    const out = await session.run(inputs);
    return Object.fromEntries(Object.keys(inputs).map((n) => [n, Array.from(out[`grad/${n}`].toNumbers())]));
  } finally {
    await session.release();
  }
}

describe('autodiff Min/Max at exact ties', () => {
  it('Max(a, a) has gradient 1, not 2 (the two tied paths share dy)', async () => {
    const a = Tensor.float32([2, 2], [1, -2, 3, 0.5]);
    const b = new Builder();
    const x = b.input('a', 'float32', [2, 2]);
    b.output(b.op('ReduceSum', [b.max(x, x)], { keepdims: 0 }), 'f');
    const g = grad(b, { of: 'f', wrt: ['a'] });
    b.output(b.identity(g.get('a')!), 'grad/a');
    const session = await NodeSession.create(newModel(b.graph));
    try {
      assert.deepEqual(Array.from((await session.run({ a }))['grad/a'].toNumbers()), [1, 1, 1, 1]);
    } finally {
      await session.release();
    }
  });
  it('Max splits dy equally between two tied inputs and routes it in full elsewhere', async () => {
    const w = Tensor.float32([4], [1, 2, 4, 8]);
    const g = await tieGradients('Max', { a: Tensor.float32([4], [1, 5, -3, 2]), b: Tensor.float32([4], [1, 4, -3, 7]) }, w);
    assert.deepEqual(g.a, [0.5, 2, 2, 0]);
    assert.deepEqual(g.b, [0.5, 0, 2, 8]);
  });
  it('Min splits dy in thirds among three tied inputs; the gradients sum to dy', async () => {
    const g = await tieGradients('Min', { a: Tensor.float32([3], [2, 0, 1]), b: Tensor.float32([3], [2, 1, 1]), c: Tensor.float32([3], [2, 1, 0]) });
    const third = Math.fround(1 / 3);
    assert.deepEqual(g.a, [third, 1, 0]);
    assert.deepEqual(g.b, [third, 0, 0]);
    assert.deepEqual(g.c, [third, 0, 1]);
  });
  it('a broadcast input tied in one row sums its half share back to its shape', async () => {
    // max(a[2,3], b[3]): b ties a in row 0 column 0 and row 1 column 2, wins column 1 of both rows.
    const g = await tieGradients('Max', { a: Tensor.float32([2, 3], [1, 0, 5, 4, 0, 2]), b: Tensor.float32([3], [1, 3, 2]) });
    assert.deepEqual(g.a, [0.5, 0, 1, 1, 0, 0.5]);
    assert.deepEqual(g.b, [0.5, 2, 0.5]);
  });
});
