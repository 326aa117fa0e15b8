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
