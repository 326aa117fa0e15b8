import { checkGradient } from './fd';

describe('autodiff einsum rule', () => {
  const cases: [string, number[], number[]][] = [
    ['bhqd,bhkd->bhqk', [2, 2, 3, 4], [2, 2, 5, 4]],
    ['bhqk,bhkd->bhqd', [2, 2, 3, 5], [2, 2, 5, 4]],
    ['bij,bjk->bik', [2, 3, 4], [2, 4, 5]],
    ['bhci,bhcj->bhij', [2, 2, 3, 4], [2, 2, 3, 4]],
    ['ij,jk->k', [3, 4], [4, 5]],
    ['ij,k', [3, 4], [2]],
  ];
  for (const [eq, a, c] of cases) {
    it(`Einsum '${eq}' gradient matches finite differences`, async () => {
      await checkGradient({ inputs: { a, c }, build: (b, v) => b.einsum(eq, v.a, v.c) });
    });
  }
  it("Einsum with one operand ('ijk->ki') matches finite differences", async () => {
    await checkGradient({ inputs: { a: [2, 3, 4] }, build: (b, v) => b.einsum('ijk->ki', v.a) });
  });
});
