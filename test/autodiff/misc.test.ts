import assert from 'node:assert/strict';
import { grad } from '../../src/autodiff/grad';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { randTensor } from '../helpers/ort';
import { checkGradient } from './fd';

describe('autodiff misc rules', () => {
  it('Where gradient matches finite differences to both branches (condition constant)', async () => {
    await checkGradient({ inputs: { a: [2, 3], c: [3] }, build: (b, v) => b.where(b.op('Greater', [v.a, v.c]), v.a, v.c) , h: 1e-3 });
  });
  it('Clip gradient matches finite differences', async () => {
    await checkGradient({ inputs: { a: [4, 5] }, build: (b, v) => b.clip(v.a, -0.5, 0.5), h: 1e-3 });
    await checkGradient({ inputs: { a: [4, 5] }, build: (b, v) => b.clip(v.a, undefined, 0.3), h: 1e-3 });
  });
  it('Dropout in inference mode passes the gradient through', async () => {
    await checkGradient({ inputs: { a: [4, 5] }, build: (b, v) => b.op('Dropout', [v.a, b.constant(0.3)]) });
  });
  it('Dropout in training mode scales by the (constant) mask', async () => {
    // ratio 0 keeps the mask all ones, so the forward is deterministic under finite differences.
    await checkGradient({
      inputs: { a: [4, 5] },
      build: (b, v) => b.node('Dropout', [v.a, b.constant(0), b.constant(new Tensor('bool', [], new Uint8Array([1])))], {}, 2)[0],
    });
  });
  it('Dropout in training mode with ratio 0.4: the gradient is mask * g / (1 - ratio), read against the mask ORT drew', async () => {
    // Finite differences cannot see through a random mask, so compare with the formula on the mask
    // output of the same run: dx = dy * mask / (1 - ratio), element by element.
    const ratio = 0.4;
    const b = new Builder();
    const x = b.input('x', 'float32', [8, 16]);
    const dy = b.input('dy', 'float32', [8, 16]);
    const [y, mask] = b.node('Dropout', [x, b.constant(ratio), b.constant(new Tensor('bool', [], new Uint8Array([1])))], { seed: { type: 'int', value: 7 } }, 2);
    b.output(y, 'y');
    b.output(b.cast(mask, 'float32'), 'mask');
    b.output(grad(b, { of: y.name, wrt: ['x'], seed: dy }).get('x')!, 'dx');
    const session = await NodeSession.create(newModel(b.graph));
    const [xv, dyv] = [randTensor([8, 16], 1), randTensor([8, 16], 2)];
    const out = await session.run({ x: xv, dy: dyv });
    const [m, dx, g, yv] = [out.mask.toNumbers(), out.dx.toNumbers(), dyv.toNumbers(), out.y.toNumbers()];
    const kept = m.filter((v) => v === 1).length;
    assert.ok(kept > 0.3 * m.length && kept < 0.9 * m.length, `mask keeps ${kept} of ${m.length}: not a ratio-0.4 draw`);
    m.forEach((mi, i) => {
      assert.ok(Math.abs(dx[i] - (mi * g[i]) / (1 - ratio)) < 1e-6, `dx[${i}] = ${dx[i]}, mask ${mi}, g ${g[i]}`);
      assert.ok(Math.abs(yv[i] - (mi * xv.toNumbers()[i]) / (1 - ratio)) < 1e-6, `y[${i}] is not x mask / (1 - ratio)`);
    });
  });
});
