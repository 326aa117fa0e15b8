/**
 * Bringing decoded uint8 CHW images to the recipe's shape. Slightly smaller images (at most a
 * quarter smaller, e.g. 28x28 asked at 32) are centred on background (-1, byte 0) rather than
 * stretched; any other size mismatch is resized with sharp (cover, centre crop). Grey -> RGB
 * replicates; RGB -> grey takes Rec. 601 luma.
 */
import sharp from 'sharp';
import { DiffusionError } from '../errors';

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

async function resizeOne(chw: Uint8Array, c: number, h: number, w: number, size: number): Promise<Uint8Array> {
  const plane = h * w;
  const hwc = new Uint8Array(chw.length);
  for (let p = 0; p < plane; p++) for (let k = 0; k < c; k++) hwc[p * c + k] = chw[k * plane + p];
  const { data, info } = await sharp(hwc, { raw: { width: w, height: h, channels: c as 1 | 3 } })
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(c * size * size);
  const got = info.channels;
  for (let p = 0; p < size * size; p++) for (let k = 0; k < c; k++) out[k * size * size + p] = data[p * got + Math.min(k, got - 1)];
  return out;
}

async function resize(b: ImageBlock, size: number): Promise<Uint8Array> {
  const inSize = b.c * b.h * b.w;
  const outSize = b.c * size * size;
  const out = new Uint8Array(b.n * outSize);
  const chunk = 64;
  for (let start = 0; start < b.n; start += chunk) {
    const jobs: Promise<void>[] = [];
    for (let i = start; i < Math.min(b.n, start + chunk); i++) {
      const src = b.data.subarray(i * inSize, (i + 1) * inSize);
      jobs.push(resizeOne(src, b.c, b.h, b.w, size).then((r) => out.set(r, i * outSize)));
    }
    await Promise.all(jobs);
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
    const data = padsTo(b.h, b.w, want.size) ? pad(b, want.size) : await resize(b, want.size);
    out = { data, n: b.n, c: b.c, h: want.size, w: want.size };
  }
  return convertChannels(out, want.channels, name);
}
