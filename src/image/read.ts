/**
 * Reading image files as tensors: decode with sharp, resize to cover a size x size square,
 * centre-crop, flatten alpha onto black, and convert to grey (luma) or RGB.
 */
import sharp from 'sharp';
import { FileFormatError } from '../errors';
import { fromByte } from './tensor';

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
  try {
    let img = sharp(file)
      .rotate()
      .flatten({ background: '#000000' })
      .resize(size, size, { fit: 'cover', position: 'centre' });
    img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
    const out = await img.raw().toBuffer({ resolveWithObject: true });
    data = out.data;
    got = out.info.channels;
  } catch (err) {
    throw new FileFormatError(name, `cannot decode image (${(err as Error).message.split('\n')[0]})`);
  }
  const plane = size * size;
  const chw = new Uint8Array(channels * plane);
  // HWC -> CHW; a grey source that sharp keeps single-channel is replicated to RGB.
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) chw[c * plane + p] = data[p * got + Math.min(c, got - 1)];
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
