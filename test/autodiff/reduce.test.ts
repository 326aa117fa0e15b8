import { checkGradient } from './fd';

describe('autodiff reduction rules', () => {
  it('ReduceSum gradient matches finite differences with and without keepdims', async () => {
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.reduceSum(v.x, [1], true) });
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.reduceSum(v.x, [0, -1], false) });
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.op('ReduceSum', [v.x], { keepdims: 0 }) });
  });
  it('ReduceMean gradient matches finite differences, static and symbolic batch', async () => {
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.reduceMean(v.x, [2], false) });
    await checkGradient({ inputs: { x: { shape: ['N', 3, 4], dims: [2, 3, 4] } }, build: (b, v) => b.reduceMean(v.x, [0, 1], true) });
    await checkGradient({ inputs: { x: { shape: ['N', 3], dims: [2, 3] } }, build: (b, v) => b.op('ReduceMean', [v.x], { keepdims: 0 }) });
  });
  it('ReduceSumSquare gradient matches finite differences', async () => {
    await checkGradient({ inputs: { x: [2, 3] }, build: (b, v) => b.op('ReduceSumSquare', [v.x], { axes: [1], keepdims: 0 }) });
  });
});
