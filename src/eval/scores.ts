/**
 * Sample-quality scores over classifier features and probabilities (pure; no Node imports):
 * Fréchet distance, k-NN precision and recall, mean confidence, class-histogram entropy and the
 * accuracy of class-conditional samples.
 */
import { DiffusionError } from '../core/errors';
import { meanAndCovariance, trace, traceSqrtProduct } from './linalg';

/** Gaussian statistics of a feature set. */
export interface FeatureStats {
  d: number;
  n: number;
  mean: Float64Array;
  cov: Float64Array;
}

export function featureStats(features: ArrayLike<number>, n: number, d: number): FeatureStats {
  if (n < 2) throw new DiffusionError(`feature statistics need at least 2 samples, got ${n}`);
  return { d, n, ...meanAndCovariance(features, n, d) };
}

/**
 * Fréchet distance between the Gaussians fitted to two feature sets (Heusel et al. 2017, the FID
 * formula; Dowson & Landau 1982):
 *   FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  if (a.d !== b.d) throw new DiffusionError(`Fréchet distance: feature widths differ (${a.d} vs ${b.d})`);
  const d = a.d;
  let dm = 0;
  for (let j = 0; j < d; j++) dm += (a.mean[j] - b.mean[j]) ** 2;
  const fd = dm + trace(a.cov, d) + trace(b.cov, d) - 2 * traceSqrtProduct(a.cov, b.cov, d);
  // Rounding can leave identical sets a hair below zero.
  return Math.max(fd, 0);
}

/** Squared Euclidean distances between the rows of x (n x d) and y (m x d), n x m. */
function pairwiseSq(x: ArrayLike<number>, n: number, y: ArrayLike<number>, m: number, d: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const t = x[i * d + k] - y[j * d + k];
        s += t * t;
      }
      out[i * m + j] = s;
    }
  }
  return out;
}

/** Squared distance of each row to its k-th nearest other row (the radius of its k-NN ball). */
function kthNeighbourSq(self: Float64Array, n: number, k: number): Float64Array {
  const radii = new Float64Array(n);
  const row = new Float64Array(n - 1);
  for (let i = 0; i < n; i++) {
    let w = 0;
    for (let j = 0; j < n; j++) if (j !== i) row[w++] = self[i * n + j];
    row.sort();
    radii[i] = row[k - 1];
  }
  return radii;
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019, eq. 1-2): each set's manifold is the
 * union of balls around its points reaching their k-th nearest neighbour in the same set;
 * precision = share of generated points inside the real manifold, recall = share of real points
 * inside the generated manifold.
 */
export function precisionRecall(real: ArrayLike<number>, nReal: number, fake: ArrayLike<number>, nFake: number, d: number, k = 3): { precision: number; recall: number } {
  if (!(Number.isInteger(k) && k >= 1 && k < nReal && k < nFake)) {
    throw new DiffusionError(`precision/recall: k = ${k} needs more than k points in each set (${nReal} real, ${nFake} generated)`);
  }
  const rr = kthNeighbourSq(pairwiseSq(real, nReal, real, nReal, d), nReal, k);
  const ff = kthNeighbourSq(pairwiseSq(fake, nFake, fake, nFake, d), nFake, k);
  const rf = pairwiseSq(real, nReal, fake, nFake, d);
  let inReal = 0;
  for (let j = 0; j < nFake; j++) {
    for (let i = 0; i < nReal; i++) {
      if (rf[i * nFake + j] <= rr[i]) {
        inReal++;
        break;
      }
    }
  }
  let inFake = 0;
  for (let i = 0; i < nReal; i++) {
    for (let j = 0; j < nFake; j++) {
      if (rf[i * nFake + j] <= ff[j]) {
        inFake++;
        break;
      }
    }
  }
  return { precision: inReal / nFake, recall: inFake / nReal };
}

/** Arg-max class of each row of n x k probabilities. */
export function predictedClasses(probs: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Mean over images of the classifier's top probability. */
export function meanConfidence(probs: ArrayLike<number>, n: number, k: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let c = 0; c < k; c++) m = Math.max(m, probs[i * k + c]);
    s += m;
  }
  return s / n;
}

/** Entropy in bits of the histogram of predicted classes (log2 K when every class is equally frequent). */
export function classEntropy(predicted: ArrayLike<number>, k: number): number {
  const counts = new Float64Array(k);
  for (let i = 0; i < predicted.length; i++) counts[predicted[i]]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / predicted.length) * Math.log2(c / predicted.length);
  return h;
}

/** Share of images whose predicted class is the requested one. */
export function classAccuracy(predicted: ArrayLike<number>, requested: ArrayLike<number>): number {
  if (predicted.length !== requested.length) throw new DiffusionError(`class accuracy: ${predicted.length} predictions for ${requested.length} requested classes`);
  let ok = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === requested[i]) ok++;
  return ok / predicted.length;
}
