/**
 * Bringing decoded uint8 CHW images to the recipe's shape. Slightly smaller images (at most a
 * quarter smaller, e.g. 28x28 asked at 32) are centred on background (-1, byte 0) rather than
 * stretched; any other size mismatch is resized (cover: centre crop, then antialiased linear
 * resampling, in plain TypeScript: one sharp call per image is ~1 ms, too slow for 50k). Grey -> RGB
 * replicates; RGB -> grey takes Rec. 601 luma.
 */
import { DiffusionError } from '../core/errors';

export interface ImageBlock {
  /** n * c * h * w bytes, CHW per image. */
  data: Uint8Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

/** Whether an h x w image is centred with padding (true) or resized (false) to size x size. */
export function padsTo(h: number, w: number, size: number): boolean {
  const m = Math.max(h, w);
  return size > m && size - m <= m / 4;
}

function pad(b: ImageBlock, size: number): Uint8Array {
  const out = new Uint8Array(b.n * b.c * size * size);
  const top = Math.floor((size - b.h) / 2);
  const left = Math.floor((size - b.w) / 2);
  for (let p = 0; p < b.n * b.c; p++) {
    for (let y = 0; y < b.h; y++) {
      const src = (p * b.h + y) * b.w;
      out.set(b.data.subarray(src, src + b.w), (p * size + top + y) * size + left);
    }
  }
  return out;
}

/** Triangle-filter taps mapping `inN` source samples (from `offset`, `span` of them) to `outN`. */
interface Taps {
  start: Int32Array;
  weights: Float32Array[];
}

/**
 * Separable linear resampling as PIL's antialiased bilinear does it: the triangle filter widens
 * by the scale factor when shrinking, so every source pixel contributes (no aliasing).
 */
function taps(offset: number, span: number, outN: number): Taps {
  const scale = span / outN;
  const support = Math.max(scale, 1);
  const start = new Int32Array(outN);
  const weights: Float32Array[] = [];
  for (let o = 0; o < outN; o++) {
    const centre = offset + (o + 0.5) * scale;
    const lo = Math.max(offset, Math.floor(centre - support));
    const hi = Math.min(offset + span, Math.ceil(centre + support));
    const w = new Float32Array(hi - lo);
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      w[i - lo] = Math.max(0, 1 - Math.abs((i + 0.5 - centre) / support));
      sum += w[i - lo];
    }
    for (let k = 0; k < w.length; k++) w[k] /= sum;
    start[o] = lo;
    weights.push(w);
  }
  return { start, weights };
}

/** Cover-resize: centre-crop the largest square, then resample it to size x size (captioned pictures in the page use it alone). */
export function coverResize(b: ImageBlock, size: number): Uint8Array {
  const m = Math.min(b.h, b.w);
  const ty = taps(Math.floor((b.h - m) / 2), m, size);
  const tx = taps(Math.floor((b.w - m) / 2), m, size);
  const out = new Uint8Array(b.n * b.c * size * size);
  const rows = new Float32Array(b.h * size);
  for (let p = 0; p < b.n * b.c; p++) {
    const src = p * b.h * b.w;
    for (let y = 0; y < b.h; y++) {
      for (let x = 0; x < size; x++) {
        const w = tx.weights[x];
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * b.data[src + y * b.w + tx.start[x] + k];
        rows[y * size + x] = acc;
      }
    }
    const dst = p * size * size;
    for (let y = 0; y < size; y++) {
      const w = ty.weights[y];
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * rows[(ty.start[y] + k) * size + x];
        out[dst + y * size + x] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return out;
}

/** Converts channel count: 1 -> 3 replicates, 3 -> 1 by luma, equal counts pass through. */
export function convertChannels(b: ImageBlock, channels: number, name: string): ImageBlock {
  if (b.c === channels) return b;
  const plane = b.h * b.w;
  const out = new Uint8Array(b.n * channels * plane);
  if (b.c === 1 && channels === 3) {
    for (let i = 0; i < b.n; i++) {
      const src = b.data.subarray(i * plane, (i + 1) * plane);
      for (let k = 0; k < 3; k++) out.set(src, (i * 3 + k) * plane);
    }
  } else if (b.c === 3 && channels === 1) {
    for (let i = 0; i < b.n; i++) {
      const base = i * 3 * plane;
      for (let p = 0; p < plane; p++) {
        const y = 0.299 * b.data[base + p] + 0.587 * b.data[base + plane + p] + 0.114 * b.data[base + 2 * plane + p];
        out[i * plane + p] = Math.round(y);
      }
    }
  } else {
    throw new DiffusionError(`${name}: cannot convert ${b.c}-channel images to ${channels} channels (use 1 or 3)`);
  }
  return { ...b, data: out, c: channels };
}

/** Pads or resizes to size x size, then converts channels. */
export async function fitImages(b: ImageBlock, want: { channels: number; size: number }, name: string): Promise<ImageBlock> {
  let out = b;
  if (b.h !== want.size || b.w !== want.size) {
    const data = padsTo(b.h, b.w, want.size) ? pad(b, want.size) : coverResize(b, want.size);
    out = { data, n: b.n, c: b.c, h: want.size, w: want.size };
  }
  return convertChannels(out, want.channels, name);
}
