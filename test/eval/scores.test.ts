import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng';
import { matmul, sqrtPsd, symmetricEigen } from '../../src/eval/linalg';
import { classEntropy, classAccuracy, featureStats, FeatureStats, frechetDistance, precisionRecall } from '../../src/eval/scores';

/** Stats straight from a mean and covariance (no sampling). */
const stats = (mean: number[], cov: number[]): FeatureStats => ({ d: mean.length, n: 0, mean: Float64Array.from(mean), cov: Float64Array.from(cov) });

/** n samples of N(mu, L L^T). */
function gaussian(rng: Rng, n: number, mu: number[], L: number[]): Float32Array {
  const d = mu.length;
  const out = new Float32Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) z[k] = rng.normal();
    for (let r = 0; r < d; r++) {
      let s = mu[r];
      for (let k = 0; k < d; k++) s += L[r * d + k] * z[k];
      out[i * d + r] = s;
    }
  }
  return out;
}

describe('eval: linear algebra', () => {
  it('symmetric Jacobi eigendecomposition reconstructs the matrix with orthonormal vectors', () => {
    const rng = new Rng(3);
    const n = 12;
    const b = Float64Array.from({ length: n * n }, () => rng.normal());
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j] + b[j * n + i];
    const { values, vectors: v } = symmetricEigen(a, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rec = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          rec += v[i * n + k] * values[k] * v[j * n + k];
          dot += v[k * n + i] * v[k * n + j];
        }
        assert.ok(Math.abs(rec - a[i * n + j]) < 1e-9, `A[${i},${j}]`);
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-9, `V^T V [${i},${j}]`);
      }
    }
  });

  it('sqrtPsd squares back to the matrix', () => {
    const n = 3;
    const a = Float64Array.from([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]);
    const r = sqrtPsd(a, n);
    const rr = matmul(r, r, n);
    rr.forEach((x, i) => assert.ok(Math.abs(x - a[i]) < 1e-10));
  });
});

describe('eval: Fréchet distance', () => {
  it('is 0 for identical feature sets', () => {
    const rng = new Rng(1);
    const x = Float32Array.from({ length: 200 * 16 }, () => rng.normal());
    const s = featureStats(x, 200, 16);
    assert.ok(frechetDistance(s, s) < 1e-8);
  });

  it('matches the diagonal closed form ||mu1 - mu2||^2 + sum (s1 + s2 - 2 sqrt(s1 s2))', () => {
    const s1 = [1, 4, 0.25];
    const s2 = [9, 1, 0.5];
    const diag = (s: number[]) => s.flatMap((v, i) => s.map((_, j) => (i === j ? v : 0)));
    const mu1 = [0, 1, 2];
    const mu2 = [1, -1, 2];
    const want = mu1.reduce((t, m, i) => t + (m - mu2[i]) ** 2, 0) + s1.reduce((t, a, i) => t + a + s2[i] - 2 * Math.sqrt(a * s2[i]), 0);
    assert.ok(Math.abs(frechetDistance(stats(mu1, diag(s1)), stats(mu2, diag(s2))) - want) < 1e-10);
  });

  it('matches the 2x2 closed form for non-commuting covariances: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))', () => {
    const S1 = [2, 0.8, 0.8, 1];
    const S2 = [1, -0.3, -0.3, 3];
    const tr12 = S1[0] * S2[0] + S1[1] * S2[2] + S1[2] * S2[1] + S1[3] * S2[3];
    const det = (s: number[]) => s[0] * s[3] - s[1] * s[2];
    // ||mu1 - mu2||^2 = 1, tr S1 = 3, tr S2 = 4.
    const want = 1 + 3 + 4 - 2 * Math.sqrt(tr12 + 2 * Math.sqrt(det(S1) * det(S2)));
    assert.ok(Math.abs(frechetDistance(stats([0, 0], S1), stats([1, 0], S2)) - want) < 1e-10);
  });

  it('estimated from samples of two Gaussians approaches the analytic distance, independent of sample order', () => {
    const rng = new Rng(7);
    const n = 20000;
    // S = L L^T with L lower-triangular.
    const L1 = [1, 0, 0.5, 2];
    const L2 = [1.5, 0, -0.4, 0.7];
    const a = gaussian(rng, n, [0, 0], L1);
    const b = gaussian(rng, n, [1, 2], L2);
    const cov = (L: number[]) => [L[0] * L[0] + L[1] * L[1], L[0] * L[2] + L[1] * L[3], L[0] * L[2] + L[1] * L[3], L[2] * L[2] + L[3] * L[3]];
    const exact = frechetDistance(stats([0, 0], cov(L1)), stats([1, 2], cov(L2)));
    const est = frechetDistance(featureStats(a, n, 2), featureStats(b, n, 2));
    assert.ok(Math.abs(est - exact) < 0.05 * exact, `estimate ${est} vs exact ${exact}`);
    // Reverse the rows of b: the same set in another order.
    const rev = new Float32Array(b.length);
    for (let i = 0; i < n; i++) rev.set(b.subarray(i * 2, i * 2 + 2), (n - 1 - i) * 2);
    assert.ok(Math.abs(frechetDistance(featureStats(a, n, 2), featureStats(rev, n, 2)) - est) < 1e-9 * est);
  });
});

describe('eval: precision and recall', () => {
  it('give the known shares on point clouds built to have them', () => {
    const rng = new Rng(5);
    const d = 4;
    const cloud = (n: number, centre: number) => Float32Array.from({ length: n * d }, () => centre + rng.normal());
    const A = cloud(100, 0);
    const B = cloud(100, 100);
    const C = cloud(50, 1000);
    // Real = A + B. Generated = exact copies of A (inside the real manifold, covering only A) + C (far from everything).
    const real = new Float32Array([...A, ...B]);
    const fake = new Float32Array([...A, ...C]);
    const pr = precisionRecall(real, 200, fake, 150, d, 3);
    assert.equal(pr.precision, 100 / 150);
    assert.equal(pr.recall, 0.5);
    const same = precisionRecall(real, 200, real, 200, d, 3);
    assert.deepEqual(same, { precision: 1, recall: 1 });
  });

  it('rejects a k that leaves no neighbours', () => {
    assert.throws(() => precisionRecall(new Float32Array(6), 3, new Float32Array(6), 3, 2, 3), /k = 3/);
  });
});

describe('eval: class scores', () => {
  it('entropy is log2 K for a uniform histogram and 0 for one class; accuracy counts matches', () => {
    assert.ok(Math.abs(classEntropy(Int32Array.from({ length: 40 }, (_, i) => i % 10), 10) - Math.log2(10)) < 1e-12);
    assert.equal(classEntropy(new Int32Array(10), 10), 0);
    assert.equal(classAccuracy([1, 2, 3, 4], [1, 2, 0, 4]), 0.75);
  });
});
