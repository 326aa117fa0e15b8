import { Tensor } from '../../src/onnx/tensor';
import { checkGradient } from './fd';

describe('autodiff shape rules', () => {
  it('Reshape, Flatten, Squeeze, Unsqueeze gradients match finite differences', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 3, 4], dims: [2, 3, 4] } }, build: (b, v) => b.reshape(v.x, [0, -1]) });
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.flatten(v.x, 2) });
    await checkGradient({ inputs: { x: [2, 1, 4] }, build: (b, v) => b.squeeze(v.x, [1]) });
    await checkGradient({ inputs: { x: [2, 4] }, build: (b, v) => b.unsqueeze(v.x, [0, 2]) });
  });
  it('Transpose gradient matches finite differences', async () => {
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.transpose(v.x, [1, 2, 0]) });
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.op('Transpose', [v.x]) });
  });
  it('Expand gradient matches finite differences', async () => {
    await checkGradient({ inputs: { x: [3, 1] }, build: (b, v) => b.expand(v.x, [2, 3, 4]) });
  });
  it('Concat gradient matches finite differences, static and symbolic sizes', async () => {
    await checkGradient({ inputs: { a: [2, 3], c: [2, 5] }, build: (b, v) => b.concat([v.a, v.c, v.a], 1) });
    await checkGradient({ inputs: { a: { shape: ['N', 3], dims: [2, 3] }, c: { shape: ['M', 3], dims: [4, 3] } }, build: (b, v) => b.concat([v.a, v.c], 0) });
  });
  it('Split gradient matches finite differences, including an unused piece', async () => {
    await checkGradient({ inputs: { x: [2, 6] }, build: (b, v) => { const [p, q] = b.split(v.x, [2, 4], 1); return b.reduceSum(b.concat([p, p], 1), [1], true) ?? q; } });
    await checkGradient({ inputs: { x: [6, 2] }, build: (b, v) => { const [p, , r] = b.split(v.x, [1, 2, 3], 0); return b.add(b.reduceSum(p, [0], true), r); } });
  });
  it('Slice gradient matches finite differences with negative starts and steps', async () => {
    await checkGradient({ inputs: { x: [4, 6] }, build: (b, v) => b.slice(v.x, [1, -4], [3, 100], [0, 1]) });
    await checkGradient({ inputs: { x: [4, 6] }, build: (b, v) => b.slice(v.x, [-1, 0], [-100, 6], [0, 1], [-2, 2]) });
    await checkGradient({ inputs: { x: { shape: ['N', 6], dims: [3, 6] } }, build: (b, v) => b.slice(v.x, [5], [0], [1], [-1]) });
  });
  it('Gather gradient matches finite differences for an embedding with repeated indices', async () => {
    const indices = { shape: [2, 3], dtype: 'int64' as const, data: Tensor.int64([2, 3], [1, 4, 1, 0, 1, 4]) };
    await checkGradient({ inputs: { table: [5, 3], i: indices }, build: (b, v) => b.gather(v.table, v.i, 0) });
    await checkGradient({ inputs: { table: [3, 5], i: indices }, build: (b, v) => b.gather(v.table, v.i, 1) });
    const negative = { shape: [2], dtype: 'int64' as const, data: Tensor.int64([2], [-1, 2]) };
    await checkGradient({ inputs: { table: [2, 4, 3], i: negative }, build: (b, v) => b.gather(v.table, v.i, 1) });
  });
  it('Pad (constant) gradient matches finite differences, including negative pads', async () => {
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.pad(v.x, [0, 1, 2, 0, 2, 1]) });
    await checkGradient({ inputs: { x: [2, 3, 4] }, build: (b, v) => b.pad(v.x, [0, -1, 2, 0, 1, -1]) });
  });
  it('Resize (nearest, integer scales) gradient matches finite differences', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 2, 3, 3], dims: [2, 2, 3, 3] } }, build: (b, v) => b.resizeNearest(v.x, [1, 1, 2, 2]) });
    await checkGradient({ inputs: { x: [1, 2, 3, 2] }, build: (b, v) => b.resizeNearest(v.x, [1, 1, 3, 1]) });
  });
});
