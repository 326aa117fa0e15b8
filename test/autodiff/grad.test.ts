import assert from 'node:assert/strict';
import { grad, gradGraph } from '../../src/autodiff';
import { DiffusionError } from '../../src/core/errors';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';

describe('autodiff engine', () => {
  it('names op, node and input when a node on the path has no rule', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [3]);
    const y = b.op('Softplus', [x]);
    const loss = b.reduceSum(y, [0], false);
    assert.throws(
      () => grad(b, { of: loss.name, wrt: ['x'] }),
      (e: unknown) => e instanceof DiffusionError && /^no gradient rule for op 'Softplus' \(node 'Softplus', input 'x' on the path to 'ReduceSum:0'\)$/.test(e.message),
    );
  });

  it('ignores ops without rules off the path, and returns zeros for wrt values not on it', async () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [3]);
    const w = b.input('w', 'float32', [2, 2]);
    b.output(b.op('Softplus', [x]), 'side');
    const loss = b.reduceSum(b.mul(x, x), [0], false);
    b.output(loss, 'loss');
    const grads = grad(b, { of: loss.name, wrt: ['x', 'w'] });
    b.output(grads.get('x')!, 'gx');
    b.output(grads.get('w')!, 'gw');
    const s = await NodeSession.create(newModel(b.graph));
    const out = await s.run({ x: Tensor.float32([3], [1, -2, 3]), w: Tensor.float32([2, 2], [1, 2, 3, 4]) });
    assert.deepEqual(out.gx.toNumbers(), [2, -4, 6]);
    assert.deepEqual(out.gw.toNumbers(), [0, 0, 0, 0]);
    assert.deepEqual(out.gw.dims, [2, 2]);
  });

  it('treats shape arithmetic and integer casts as constants (Shape -> Gather -> Reshape)', async () => {
    const b = new Builder();
    const x = b.input('x', 'float32', ['N', 6]);
    const n = b.gather(b.shapeOf(x), b.constant(0, 'int64'));
    const target = b.concat([b.unsqueeze(n, [0]), b.ints([2, 3])], 0);
    const y = b.reshape(b.mul(x, b.cast(b.cast(x, 'int64'), 'float32')), target);
    const loss = b.reduceSum(y, [0, 1, 2], false);
    const grads = grad(b, { of: loss.name, wrt: ['x'] });
    b.output(grads.get('x')!, 'gx');
    const s = await NodeSession.create(newModel(b.graph));
    const out = await s.run({ x: Tensor.float32([1, 6], [1.5, 2.5, -1.5, 3.2, 0.5, 4]) });
    assert.deepEqual(out.gx.toNumbers(), [1, 2, -1, 3, 0, 4]);
  });

  it('uses a given seed as the output gradient and works over an existing graph (gradGraph)', async () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [2]);
    const seed = b.input('seed', 'float32', [2]);
    const y = b.scale(x, 3);
    const grads = gradGraph(b.graph, { of: y.name, wrt: ['x'], seed });
    b.graph.outputs.push({ name: grads.get('x')!.name, dtype: 'float32', shape: [2] });
    const s = await NodeSession.create(newModel(b.graph));
    const out = await s.run({ x: Tensor.float32([2], [1, 1]), seed: Tensor.float32([2], [1, -2]) });
    assert.deepEqual(out[grads.get('x')!.name].toNumbers(), [3, -6]);
  });

  it('rejects an unsupported attribute variant with the op and node named', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', [1, 1, 4, 4]);
    const y = b.pad(x, [0, 0, 1, 1, 0, 0, 1, 1], 0, 'reflect');
    const loss = b.reduceSum(y, [0, 1, 2, 3], false);
    assert.throws(() => grad(b, { of: loss.name, wrt: ['x'] }), /gradient of op 'Pad' \(node 'Pad'\): unsupported mode 'reflect'/);
  });
});
