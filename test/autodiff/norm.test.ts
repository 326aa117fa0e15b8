import { checkGradient } from './fd';

describe('autodiff normalisation rules', () => {
  it('InstanceNormalization gradient matches finite differences (input, scale, bias)', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 3, 4, 5], dims: [2, 3, 4, 5] }, s: [3], c: [3] }, build: (b, v) => b.instanceNorm(v.x, v.s, v.c) });
  });
  it('GroupNorm as exported by PyTorch (Reshape + InstanceNormalization + Reshape + Mul + Add) matches finite differences', async () => {
    await checkGradient({
      inputs: { x: { shape: ['N', 4, 3, 3], dims: [2, 4, 3, 3] }, gamma: [4, 1, 1], beta: [4, 1, 1] },
      build: (b, v) => {
        const grouped = b.reshape(v.x, [0, 2, -1]);
        const normed = b.instanceNorm(grouped, b.constant([1, 1]), b.constant([0, 0]));
        return b.add(b.mul(b.reshape(normed, b.shapeOf(v.x)), v.gamma), v.beta);
      },
    });
  });
  it('LayerNormalization gradient matches finite differences over the last axis and the last two', async () => {
    await checkGradient({ inputs: { x: [2, 3, 5], s: [5], c: [5] }, build: (b, v) => b.layerNorm(v.x, v.s, v.c) });
    await checkGradient({ inputs: { x: [2, 3, 5], s: [3, 5], c: [5] }, build: (b, v) => b.layerNorm(v.x, v.s, v.c, 1) });
  });
  it('Softmax and LogSoftmax gradients match finite differences', async () => {
    await checkGradient({ inputs: { x: [2, 3, 5] }, build: (b, v) => b.softmax(v.x, -1) });
    await checkGradient({ inputs: { x: [2, 3, 5] }, build: (b, v) => b.softmax(v.x, 1) });
    await checkGradient({ inputs: { x: [2, 3, 5] }, build: (b, v) => b.logSoftmax(v.x, -1) });
  });
});
