/**
 * Reading image files as tensors: decode with sharp, resize to cover a size x size square,
 * centre-crop, flatten alpha onto black, and convert to grey (Rec. 601 luma) or RGB.
 */
import { sharp } from './sharp';
import { checkReadable } from '../core/node/read-limits';
import { FileFormatError } from '../core/errors';
import { fromByte } from './pixels';

export interface ReadImageOptions {
  channels: 1 | 3;
  /** Output is size x size. */
  size: number;
}

/** Decodes `file` (path or bytes) into uint8 CHW of the requested channels and size. */
export async function readImageBytes(
  file: string | Uint8Array,
  opts: ReadImageOptions,
  name = typeof file === 'string' ? file : 'image',
): Promise<Uint8Array> {
  const { channels, size } = opts;
  let data: Buffer;
  let got: number;
  if (typeof file === 'string') checkReadable(file, 'image', 'image file');
  try {
    const out = await sharp()(file)
      .rotate()
      .flatten({ background: '#000000' })
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    data = out.data;
    got = out.info.channels;
  } catch (err) {
    throw new FileFormatError(name, `cannot decode image (${(err as Error).message.split('\n')[0]})`);
  }
  const plane = size * size;
  const chw = new Uint8Array(channels * plane);
  // HWC -> CHW. Grey is Rec. 601 luma (as for IDX/CIFAR data, see data/fit.ts), not sharp's
  // perceptual lightness; a source sharp keeps single-channel is replicated.
  for (let p = 0; p < plane; p++) {
    const px = (c: number): number => data[p * got + Math.min(c, got - 1)];
    if (channels === 1) chw[p] = Math.round(0.299 * px(0) + 0.587 * px(1) + 0.114 * px(2));
    else for (let c = 0; c < 3; c++) chw[c * plane + p] = px(c);
  }
  return chw;
}

/** Reads an image file as float CHW in [-1, 1], resized (cover) and centre-cropped to size x size. */
export async function readImage(file: string, opts: ReadImageOptions): Promise<Float32Array> {
  const bytes = await readImageBytes(file, opts);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = fromByte(bytes[i]);
  return out;
}
