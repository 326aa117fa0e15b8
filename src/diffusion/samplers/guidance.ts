/**
 * Class conditioning and classifier-free guidance (Ho & Salimans 2022, eq. 6, which writes
 * (1 + w') cond - w' uncond; here w = 1 + w' as in diffusers' guidance_scale):
 * out = uncond + w (cond - uncond), where uncond is the model at the null class (the class the
 * network was trained to see with probability p_uncond). w = 1 is plain conditional sampling,
 * w = 0 unconditional, w > 1 stronger guidance. Works on any prediction type, since eps, x0 and v
 * are all affine in the model output at fixed x_t.
 */
import { DiffusionError, OptionError } from '../../core/errors';
import { Denoiser } from './types';

/** The network with a class input (the runtime layer converts Int32Array to int64). */
export type ClassDenoiser = (x: Float32Array, t: Int32Array, cls: BigInt64Array | Int32Array) => Promise<Float32Array>;

function checkClasses(classes: Int32Array, t: Int32Array): void {
  if (classes.length !== t.length) {
    throw new DiffusionError(`guidance: ${classes.length} classes for a batch of ${t.length}`);
  }
}

/** The model at fixed classes, no guidance. */
export function conditionalDenoiser(model: ClassDenoiser, classes: Int32Array): Denoiser {
  return (x, t) => {
    checkClasses(classes, t);
    return model(x, t, classes);
  };
}

/**
 * Classifier-free guidance with one batch of 2n per call: x twice, t twice, classes then null
 * classes. w = 1 runs only the conditional half, w = 0 only the unconditional one.
 */
export function guidedDenoiser(model: ClassDenoiser, classes: Int32Array, nullClass: number, w: number): Denoiser {
  const nulls = new Int32Array(classes.length).fill(nullClass);
  const concat = (a: Int32Array, b: Int32Array) => {
    const c = new Int32Array(a.length + b.length);
    c.set(a, 0);
    c.set(b, a.length);
    return c;
  };
  const inner = guidedBy(model, classes, nulls, concat, w);
  return async (x, t) => {
    checkClasses(classes, t);
    return inner(x, t);
  };
}

/**
 * Guidance over any conditioning E (class ids, multi-hot labels...): `cond` and `uncond` are the
 * batch's conditional and null conditioning, `concat` joins two of them into one batch of 2n.
 */
export function guidedBy<E>(model: (x: Float32Array, t: Int32Array, e: E) => Promise<Float32Array>, cond: E, uncond: E,
  concat: (a: E, b: E) => E, w: number): Denoiser {
  if (!Number.isFinite(w)) throw new OptionError('guidance', `must be a finite number, got ${w}`);
  if (w === 1) return (x, t) => model(x, t, cond);
  if (w === 0) return (x, t) => model(x, t, uncond);
  return async (x, t) => {
    const n = t.length;
    const x2 = new Float32Array(2 * x.length);
    x2.set(x, 0);
    x2.set(x, x.length);
    const t2 = new Int32Array(2 * n);
    t2.set(t, 0);
    t2.set(t, n);
    const both = await model(x2, t2, concat(cond, uncond));
    if (both.length !== x2.length) {
      throw new DiffusionError(`guidance: model output has ${both.length} elements, expected ${x2.length}`);
    }
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const c = both[i], u = both[x.length + i];
      out[i] = u + w * (c - u); // Ho & Salimans eq. 6 with w = 1 + w'
    }
    return out;
  };
}
