import { checkGradient } from './fd';

describe('autodiff pool rules', () => {
  it('AveragePool gradient matches finite differences (stride 2, no pads)', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 3, 6, 6], dims: [2, 3, 6, 6] } }, build: (b, v) => b.averagePool(v.x, { kernel: [2, 2], strides: [2, 2] }) });
  });
  it('AveragePool gradient matches finite differences with pads, counting or not counting them', async () => {
    await checkGradient({ inputs: { x: [1, 2, 5, 5] }, build: (b, v) => b.averagePool(v.x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }) });
    await checkGradient({ inputs: { x: [1, 2, 5, 5] }, build: (b, v) => b.averagePool(v.x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true }) });
  });
  it('MaxPool gradient matches finite differences with overlapping windows', async () => {
    await checkGradient({ inputs: { x: [2, 2, 5, 5] }, build: (b, v) => b.maxPool(v.x, { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }), h: 1e-3 });
    await checkGradient({ inputs: { x: { shape: ['N', 2, 4, 4], dims: [2, 2, 4, 4] } }, build: (b, v) => b.maxPool(v.x, { kernel: [2, 2], strides: [2, 2] }), h: 1e-3 });
  });
});
