import { Tensor } from '../../src/onnx/tensor';
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
});
