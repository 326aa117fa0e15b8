/**
 * Conversions among the three things a denoiser can predict: the noise eps, the clean image x0,
 * and v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022, "Progressive distillation",
 * section 4 and appendix D). Arrays are NCHW batches flattened; `abar` has one entry per sample,
 * so sample b owns elements [b * per, (b + 1) * per) with per = x.length / abar.length.
 */
import { DiffusionError } from '../core/errors';
import { Prediction } from '../core/diffusion-config';

export type Abar = ArrayLike<number>;

function perSample(len: number, abar: Abar, what: string): number {
  const n = abar.length;
  if (n === 0 || len % n !== 0) {
    throw new DiffusionError(`${what}: ${len} elements do not split into ${n} samples`);
  }
  return len / n;
}

function map2(a: Float32Array, b: Float32Array, abar: Abar, what: string,
  f: (x: number, y: number, sa: number, s1a: number) => number): Float32Array {
  if (a.length !== b.length) throw new DiffusionError(`${what}: length ${a.length} != ${b.length}`);
  const per = perSample(a.length, abar, what);
  const out = new Float32Array(a.length);
  for (let s = 0; s < abar.length; s++) {
    const sa = Math.sqrt(abar[s]), s1a = Math.sqrt(1 - abar[s]);
    for (let i = s * per, e = i + per; i < e; i++) out[i] = f(a[i], b[i], sa, s1a);
  }
  return out;
}

/** Forward process, Ho et al. eq. 4: x_t = sqrt(abar) x0 + sqrt(1 - abar) eps. */
export function qSample(x0: Float32Array, eps: Float32Array, abar: Abar): Float32Array {
  return map2(x0, eps, abar, 'qSample', (x, e, sa, s1a) => sa * x + s1a * e);
}

/** v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022, eq. 31's target). */
export function x0EpsToV(x0: Float32Array, eps: Float32Array, abar: Abar): Float32Array {
  return map2(x0, eps, abar, 'x0EpsToV', (x, e, sa, s1a) => sa * e - s1a * x);
}

/** x0 = sqrt(abar) x_t - sqrt(1 - abar) v. */
export function vToX0(v: Float32Array, xt: Float32Array, abar: Abar): Float32Array {
  return map2(v, xt, abar, 'vToX0', (vv, x, sa, s1a) => sa * x - s1a * vv);
}

/** eps = sqrt(1 - abar) x_t + sqrt(abar) v. */
export function vToEps(v: Float32Array, xt: Float32Array, abar: Abar): Float32Array {
  return map2(v, xt, abar, 'vToEps', (vv, x, sa, s1a) => s1a * x + sa * vv);
}

/** x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)  (Ho et al. eq. 4 solved for x0, DDIM eq. 9). */
export function epsToX0(eps: Float32Array, xt: Float32Array, abar: Abar): Float32Array {
  return map2(eps, xt, abar, 'epsToX0', (e, x, sa, s1a) => (x - s1a * e) / sa);
}

/** eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar). */
export function x0ToEps(x0: Float32Array, xt: Float32Array, abar: Abar): Float32Array {
  return map2(x0, xt, abar, 'x0ToEps', (x0v, x, sa, s1a) => (x - sa * x0v) / s1a);
}

/** The clean image implied by a model output of the given prediction type at x_t. */
export function predToX0(pred: Float32Array, prediction: Prediction, xt: Float32Array, abar: Abar): Float32Array {
  switch (prediction) {
    case 'eps': return epsToX0(pred, xt, abar);
    case 'x0': return Float32Array.from(pred);
    case 'v': return vToX0(pred, xt, abar);
  }
}

/** The noise implied by a model output of the given prediction type at x_t. */
export function predToEps(pred: Float32Array, prediction: Prediction, xt: Float32Array, abar: Abar): Float32Array {
  switch (prediction) {
    case 'eps': return Float32Array.from(pred);
    case 'x0': return x0ToEps(pred, xt, abar);
    case 'v': return vToEps(pred, xt, abar);
  }
}

/** The regression target of the training loss for a prediction type. */
export function targetFor(prediction: Prediction, x0: Float32Array, eps: Float32Array, abar: Abar): Float32Array {
  switch (prediction) {
    case 'eps': return Float32Array.from(eps);
    case 'x0': return Float32Array.from(x0);
    case 'v': return x0EpsToV(x0, eps, abar);
  }
}

/** SNR = abar / (1 - abar) (Kingma et al. 2021, eq. 1 with alpha^2 = abar, sigma^2 = 1 - abar). */
export function snrFromAbar(abar: number): number {
  return abar / (1 - abar);
}

/** log-SNR lambda = log(alpha / sigma) = 0.5 log SNR, the time variable of DPM-Solver. */
export function lambdaFromAbar(abar: number): number {
  return 0.5 * (Math.log(abar) - Math.log1p(-abar));
}

/**
 * Min-SNR-gamma loss weight (Hang et al. 2023, eq. 8 and their table for each parameterisation):
 * the x0 loss is weighted by min(SNR, gamma); the same weight expressed for an eps loss is
 * min(SNR, gamma) / SNR, and for a v loss min(SNR, gamma) / (SNR + 1), since
 * ||eps - eps_hat||^2 = SNR ||x0 - x0_hat||^2 and ||v - v_hat||^2 = (SNR + 1) ||x0 - x0_hat||^2.
 */
export function minSnrWeight(snr: number, gamma: number, prediction: Prediction): number {
  if (!(gamma > 0)) throw new DiffusionError(`minSnrWeight: gamma must be > 0, got ${gamma}`);
  const clipped = Math.min(snr, gamma);
  switch (prediction) {
    case 'eps': return clipped / snr;
    case 'x0': return clipped;
    case 'v': return clipped / (snr + 1);
  }
}

/** Per-sample min-SNR-gamma weights for a batch of abar values. */
export function minSnrWeights(abar: Abar, gamma: number, prediction: Prediction): Float32Array {
  const out = new Float32Array(abar.length);
  for (let i = 0; i < abar.length; i++) out[i] = minSnrWeight(snrFromAbar(abar[i]), gamma, prediction);
  return out;
}

/** Clamps in place to [-1, 1] (the data range), the "clip x0" of every sampler. */
export function clampUnit(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = x[i] < -1 ? -1 : x[i] > 1 ? 1 : x[i];
  return x;
}
