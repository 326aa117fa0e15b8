/**
 * Float tensors in [-1, 1] to 8-bit pixels and RGBA images. Pure: imports nothing from Node, so
 * the browser sampler reuses it to paint canvases.
 */
import { OptionError } from '../core/errors';

/** An 8-bit RGBA image, row-major, 4 bytes per pixel. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** [-1, 1] -> 0..255: clamp, then round((x + 1) * 127.5). NaN maps to 0. */
export function toByte(x: number): number {
  if (!(x > -1)) return 0;
  if (x >= 1) return 255;
  return Math.round((x + 1) * 127.5);
}

/** 0..255 -> [-1, 1], the inverse of `toByte` up to rounding. */
export function fromByte(v: number): number {
  return v / 127.5 - 1;
}

/** Float NCHW in [-1, 1] -> uint8 NCHW. */
export function toUint8(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = toByte(x[i]);
  return out;
}

/**
 * Image `index` of a float NCHW batch as RGBA. One channel is replicated to grey, three are RGB,
 * four keep their alpha; two (or more than four) channels show the first one as grey.
 */
export function imageToRgba(
  images: Float32Array,
  index: number,
  c: number,
  h: number,
  w: number,
): RgbaImage {
  const plane = h * w;
  const base = index * c * plane;
  if (base + c * plane > images.length) {
    throw new RangeError(`image ${index} of shape [${c},${h},${w}] lies outside a tensor of ${images.length} values`);
  }
  const rgba = new Uint8Array(plane * 4);
  const rgb = c === 3 || c === 4;
  for (let p = 0; p < plane; p++) {
    const r = toByte(images[base + p]);
    rgba[4 * p] = r;
    rgba[4 * p + 1] = rgb ? toByte(images[base + plane + p]) : r;
    rgba[4 * p + 2] = rgb ? toByte(images[base + 2 * plane + p]) : r;
    rgba[4 * p + 3] = c === 4 ? toByte(images[base + 3 * plane + p]) : 255;
  }
  return { width: w, height: h, rgba };
}

/** Every image of a float NCHW batch as RGBA. */
export function toRgba(images: Float32Array, n: number, c: number, h: number, w: number): RgbaImage[] {
  if (!(images instanceof Float32Array)) {
    const hint = images && typeof images === 'object' && 'images' in images ? ' (for a SampleResult, pass result.images, or use result.rgba directly)' : '';
    throw new OptionError('images', `of toRgba must be a Float32Array of n x c x h x w values in [-1, 1]${hint}`);
  }
  for (const [name, v] of [['n', n], ['c', c], ['h', h], ['w', w]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new OptionError(name, `of toRgba must be a positive integer, got ${String(v)}`);
  }
  if (images.length !== n * c * h * w) throw new OptionError('images', `of toRgba has ${images.length} values, not n x c x h x w = ${n * c * h * w}`);
  const out: RgbaImage[] = [];
  for (let i = 0; i < n; i++) out.push(imageToRgba(images, i, c, h, w));
  return out;
}

/** RGBA -> float CHW in [-1, 1] with 1 (luma, Rec. 601) or 3 channels; alpha is dropped. */
export function rgbaToChw(img: RgbaImage, channels: 1 | 3): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    const r = img.rgba[4 * p];
    const g = img.rgba[4 * p + 1];
    const b = img.rgba[4 * p + 2];
    if (channels === 1) {
      out[p] = fromByte(0.299 * r + 0.587 * g + 0.114 * b);
    } else {
      out[p] = fromByte(r);
      out[plane + p] = fromByte(g);
      out[2 * plane + p] = fromByte(b);
    }
  }
  return out;
}
