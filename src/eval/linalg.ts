/**
 * The little dense linear algebra the evaluator needs, in float64 plain TypeScript: feature means
 * and covariances, the symmetric eigendecomposition (cyclic Jacobi), and the matrix square root
 * of a symmetric positive semi-definite matrix. Matrices are row-major n x n Float64Arrays.
 */

/** Mean and covariance of the n rows of a row-major n x d matrix; the covariance is unbiased (n - 1), as numpy.cov. */
export function meanAndCovariance(x: ArrayLike<number>, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
    for (let j = 0; j < d; j++) {
      const r = row[j];
      if (r === 0) continue;
      for (let k = j; k < d; k++) cov[j * d + k] += r * row[k];
    }
  }
  const div = Math.max(1, n - 1);
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      cov[j * d + k] /= div;
      cov[k * d + j] = cov[j * d + k];
    }
  }
  return { mean, cov };
}

/** C = A B for n x n matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

export function trace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i];
  return t;
}

/**
 * Eigendecomposition A = V diag(values) V^T of a symmetric matrix by cyclic Jacobi rotations
 * (Golub & Van Loan, Matrix Computations, 4th ed., Alg. 8.5.3): each rotation zeroes one
 * off-diagonal pair; sweeps repeat until the off-diagonal mass is negligible. Column k of the
 * row-major `vectors` is the eigenvector of values[k]. Accurate to float64 rounding for the
 * feature covariances here (d ~ 100, a few ms per sweep, < 15 sweeps).
 */
export function symmetricEigen(matrix: Float64Array, n: number, maxSweeps = 60): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // GvL eq. 8.5.6: tau = (a_qq - a_pp) / (2 a_pq), t = tan(phi) the smaller root of t^2 + 2 tau t - 1 = 0.
        const tau = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        // A <- J^T A J with J the rotation in the (p, q) plane: columns, then rows.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** The PSD square root V diag(sqrt(max(l, 0))) V^T of a symmetric PSD matrix (tiny negative eigenvalues from rounding clamp to 0). */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors: v } = symmetricEigen(a, n);
  const r = values.map((l) => Math.sqrt(Math.max(l, 0)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += v[i * n + k] * r[k] * v[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * tr sqrt(S1 S2) for symmetric PSD S1, S2. S1 S2 is not symmetric, but it is similar to
 * M = S1^(1/2) S2 S1^(1/2), which is symmetric PSD, so the trace of its root is the sum of the
 * square roots of M's eigenvalues.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const r1 = sqrtPsd(s1, n);
  const m = matmul(matmul(r1, s2, n), r1, n);
  // Symmetrise away rounding before the symmetric solver.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const avg = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = avg;
      m[j * n + i] = avg;
    }
  }
  return symmetricEigen(m, n).values.reduce((s, l) => s + Math.sqrt(Math.max(l, 0)), 0);
}
