/**
 * Writing RGBA images and animations with sharp: PNG, WebP (lossless) or JPEG by extension;
 * animated GIF or WebP from frames. Every write is atomic (see atomic.ts).
 */
import { extname } from 'node:path';
import { sharp } from './sharp';
import type { Sharp } from 'sharp';
import { DiffusionError } from '../core/errors';
import { writeFileAtomic } from '../core/node/atomic-file';
import type { RgbaImage } from './pixels';

export interface AnimationOptions {
  /** Delay per frame in milliseconds (default 100). */
  delayMs?: number;
  /** Number of loops; 0 = forever (default 0). */
  loop?: number;
  /** Extra delay on the last frame, so the final sample stays visible (default 0). */
  holdLastMs?: number;
}

function raw(img: RgbaImage): Sharp {
  if (img.rgba.length !== img.width * img.height * 4) {
    throw new RangeError(`RGBA buffer of ${img.rgba.length} bytes does not match ${img.width}x${img.height}`);
  }
  return sharp()(img.rgba, { raw: { width: img.width, height: img.height, channels: 4 } });
}

/** Encodes an image as PNG, WebP (lossless) or JPEG (quality 92) chosen by the file extension. */
export async function encodeImage(img: RgbaImage, ext: string, file = `image${ext}`): Promise<Uint8Array> {
  switch (ext.toLowerCase()) {
    case '.png':
      return raw(img).png({ compressionLevel: 9 }).toBuffer();
    case '.webp':
      return raw(img).webp({ lossless: true }).toBuffer();
    case '.jpg':
    case '.jpeg':
      return raw(img).flatten({ background: '#000000' }).jpeg({ quality: 92 }).toBuffer();
    default:
      throw new DiffusionError(`${file}: unsupported image extension '${ext}' (use .png, .webp, .jpg or .jpeg)`);
  }
}

/** Writes a PNG atomically. */
export async function writePng(path: string, img: RgbaImage): Promise<void> {
  await writeFileAtomic(path, await encodeImage(img, '.png', path));
}

/** Writes PNG/WebP/JPEG by extension, atomically. */
export async function writeImage(path: string, img: RgbaImage): Promise<void> {
  await writeFileAtomic(path, await encodeImage(img, extname(path), path));
}

/**
 * Writes an animated GIF or WebP (by extension) from equally sized frames, atomically. The frames
 * are stacked into one tall raw image whose `pageHeight` tells sharp where each frame starts.
 */
export async function writeAnimation(path: string, frames: RgbaImage[], opts: AnimationOptions = {}): Promise<void> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.gif' && ext !== '.webp') {
    throw new DiffusionError(`${path}: unsupported animation extension '${ext}' (use .gif or .webp)`);
  }
  if (frames.length === 0) throw new DiffusionError(`${path}: an animation needs at least one frame`);
  const { width, height } = frames[0];
  const stacked = new Uint8Array(width * height * 4 * frames.length);
  frames.forEach((f, i) => {
    if (f.width !== width || f.height !== height) {
      throw new DiffusionError(`${path}: frame ${i} is ${f.width}x${f.height}, expected ${width}x${height}`);
    }
    stacked.set(f.rgba, i * width * height * 4);
  });
  const delayMs = opts.delayMs ?? 100;
  // One delay per frame: given a single number, sharp's GIF writer applies it to the first only.
  const delay = frames.map((_, i) => delayMs + (i === frames.length - 1 ? (opts.holdLastMs ?? 0) : 0));
  const img = sharp()(stacked, {
    raw: { width, height: height * frames.length, channels: 4, pageHeight: height },
  });
  const anim = { loop: opts.loop ?? 0, delay };
  const bytes = ext === '.gif' ? await img.gif(anim).toBuffer() : await img.webp({ ...anim, lossless: true }).toBuffer();
  await writeFileAtomic(path, bytes);
}
