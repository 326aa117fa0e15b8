/**
 * Gaussian blur as a cold-diffusion degradation (Bansal et al. 2022, section 4.1 "Deblurring").
 *
 * Their 'Incremental' blur routine applies t successive Gaussian blurs, the i-th with standard
 * deviation blurStd * i. Gaussians compose by adding variances, so we apply the closed form, one
 * blur of
 *   sigma_t = blurStd * sqrt(sum_{i=1}^{t} i^2) = blurStd * sqrt(t (t + 1) (2t + 1) / 6)
 * ('constant' routine: t blurs of blurStd, sigma_t = blurStd * sqrt(t)). One blur per t keeps
 * D(x0, t) O(1) in t and strictly monotone; D(x0, 0) is the identity (a copy, exactly).
 *
 * The blur is separable (rows then columns) on NCHW Float32Arrays, with a kernel truncated at
 * radius ceil(3 sigma) and normalised to sum 1 (so constant images stay constant), and
 * reflect padding (mirror without repeating the edge, as torch's 'reflect'), folded as often as
 * needed when the kernel is wider than the image.
 */
import { DiffusionError } from '../../core/errors';

export type BlurRoutine = 'incremental' | 'constant';

export interface BlurConfig {
  /** Number of degradation levels T; t ranges over [0, T]. */
  timesteps: number;
  /** Standard deviation of one elementary blur, in pixels. */
  blurStd: number;
  /** Default 'incremental'. */
  routine?: BlurRoutine;
}

export interface ImageShape {
  n: number;
  c: number;
  h: number;
  w: number;
}

/** sigma_t in pixels (0 at t = 0). */
export function blurSigma(t: number, cfg: BlurConfig): number {
  if (!Number.isInteger(t) || t < 0 || t > cfg.timesteps) {
    throw new DiffusionError(`blur: t must be an integer in [0, ${cfg.timesteps}], got ${t}`);
  }
  if (!(cfg.blurStd > 0)) throw new DiffusionError(`blur: blurStd must be > 0, got ${cfg.blurStd}`);
  const sumSq = (cfg.routine ?? 'incremental') === 'incremental' ? (t * (t + 1) * (2 * t + 1)) / 6 : t;
  return cfg.blurStd * Math.sqrt(sumSq);
}

/** A normalised 1-D Gaussian kernel of radius ceil(3 sigma). */
export function gaussianKernel(sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
    sum += k[i + r];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** Reflect index i into [0, n): ... 2 1 | 0 1 2 ... n-1 | n-2 ... (period 2(n - 1)). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  const m = ((i % p) + p) % p;
  return m < n ? m : p - m;
}

/** Separable Gaussian blur of every (n, c) plane; sigma = 0 returns a copy. */
export function gaussianBlur(x: Float32Array, shape: ImageShape, sigma: number): Float32Array {
  const { h, w } = shape;
  const planes = shape.n * shape.c;
  if (x.length !== planes * h * w) {
    throw new DiffusionError(`blur: ${x.length} values do not match shape ${shape.n}x${shape.c}x${h}x${w}`);
  }
  if (sigma === 0) return Float32Array.from(x);
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float64Array(h * w);
  const out = new Float32Array(x.length);
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        let acc = 0;
        for (let j = -r; j <= r; j++) acc += k[j + r] * x[base + y * w + reflectIndex(xx + j, w)];
        tmp[y * w + xx] = acc;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        let acc = 0;
        for (let j = -r; j <= r; j++) acc += k[j + r] * tmp[reflectIndex(y + j, h) * w + xx];
        out[base + y * w + xx] = acc;
      }
    }
  }
  return out;
}

/** D(x0, t): blur every sample by sigma_t; t is one level for the batch or one per sample. */
export function blurDegrade(x0: Float32Array, shape: ImageShape, t: number | ArrayLike<number>, cfg: BlurConfig): Float32Array {
  if (typeof t === 'number') return gaussianBlur(x0, shape, blurSigma(t, cfg));
  if (t.length !== shape.n) throw new DiffusionError(`blur: ${t.length} timesteps for a batch of ${shape.n}`);
  const per = shape.c * shape.h * shape.w;
  const out = new Float32Array(x0.length);
  const one = { n: 1, c: shape.c, h: shape.h, w: shape.w };
  for (let s = 0; s < shape.n; s++) {
    const blurred = gaussianBlur(x0.subarray(s * per, (s + 1) * per), one, blurSigma(t[s], cfg));
    out.set(blurred, s * per);
  }
  return out;
}
