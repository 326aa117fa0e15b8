import { checkGradient } from './fd';

describe('autodiff matmul rules', () => {
  it('MatMul gradient matches finite differences for 2-D operands', async () => {
    await checkGradient({ inputs: { a: [3, 4], b: [4, 5] }, build: (b, x) => b.matmul(x.a, x.b) });
  });
  it('MatMul gradient matches finite differences batched with broadcast [2,1,3,4] @ [3,4,5]', async () => {
    await checkGradient({ inputs: { a: [2, 1, 3, 4], b: [3, 4, 5] }, build: (b, x) => b.matmul(x.a, x.b) });
  });
  it('MatMul gradient matches finite differences with a symbolic batch and a shared matrix', async () => {
    await checkGradient({ inputs: { a: { shape: ['N', 3, 4], dims: [2, 3, 4] }, b: [4, 5] }, build: (b, x) => b.matmul(x.a, x.b) });
  });
  it('MatMul gradient matches finite differences for 1-D operands', async () => {
    await checkGradient({ inputs: { a: [4], b: [2, 4, 5] }, build: (b, x) => b.matmul(x.a, x.b) });
    await checkGradient({ inputs: { a: [2, 3, 4], b: [4] }, build: (b, x) => b.matmul(x.a, x.b) });
    await checkGradient({ inputs: { a: [4], b: [4] }, build: (b, x) => b.matmul(x.a, x.b) });
  });
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`Gemm gradient matches finite differences with transA=${transA} transB=${transB} alpha/beta`, async () => {
        await checkGradient({
          inputs: { a: transA ? [4, 3] : [3, 4], b: transB ? [5, 4] : [4, 5], c: [5] },
          build: (b, x) => b.gemm(x.a, x.b, x.c, { transA, transB, alpha: 0.7, beta: 1.3 }),
        });
      });
    }
  }
  it('Gemm gradient matches finite differences with a [M,1] bias and no bias', async () => {
    await checkGradient({ inputs: { a: [3, 4], b: [4, 5], c: [3, 1] }, build: (b, x) => b.gemm(x.a, x.b, x.c) });
    await checkGradient({ inputs: { a: [3, 4], b: [5, 4] }, build: (b, x) => b.gemm(x.a, x.b, null, { transB: true }) });
  });
});
