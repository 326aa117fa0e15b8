/**
 * Training images in a page: ImageData, canvases, <img> elements, bitmaps or picked files, turned
 * into the same in-memory data set the Node loaders build (uint8 CHW, scaled to [-1, 1] on read).
 * Alpha is flattened onto black and the images are brought to the model's size and channels by
 * data/fit.ts, the code the IDX and CIFAR-10 loaders use (centre on background when slightly
 * smaller, else cover-resize with antialiased linear filtering; grey by Rec. 601 luma).
 */
import { DiffusionError } from '../core/errors';
import { fitImages } from '../data/fit';
import { MemoryDataset } from '../data/memory';

/** Anything a page holds an image in. A Blob (a File from <input type=file>) is decoded with createImageBitmap. */
export type ImageInput = ImageData | ImageBitmap | HTMLCanvasElement | OffscreenCanvas | HTMLImageElement | Blob;

export interface ImageDatasetOptions {
  channels: number;
  size: number;
  /** Class id per image (for class-conditional models). */
  labels?: readonly number[];
  classNames?: string[];
  /** Named in messages (default 'page images'). */
  name?: string;
}

/** An RGBA image as 3-channel CHW bytes with alpha flattened onto black (as sharp's flatten does for the folder loader). */
export function rgbaToChw(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const plane = width * height;
  if (rgba.length !== plane * 4) throw new DiffusionError(`rgbaToChw: ${rgba.length} bytes for a ${width}x${height} RGBA image`);
  const out = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    const a = rgba[4 * p + 3];
    for (let c = 0; c < 3; c++) out[c * plane + p] = a === 255 ? rgba[4 * p + c] : Math.round((rgba[4 * p + c] * a) / 255);
  }
  return out;
}

function isImageData(x: unknown): x is ImageData {
  return typeof ImageData !== 'undefined' && x instanceof ImageData;
}

/** The pixels of one page image, unpremultiplied RGBA. */
export async function readPixels(img: ImageInput): Promise<{ rgba: Uint8ClampedArray; width: number; height: number }> {
  if (isImageData(img)) return { rgba: img.data, width: img.width, height: img.height };
  if (typeof HTMLCanvasElement !== 'undefined' && img instanceof HTMLCanvasElement) {
    return { rgba: img.getContext('2d')!.getImageData(0, 0, img.width, img.height).data, width: img.width, height: img.height };
  }
  const source = typeof Blob !== 'undefined' && img instanceof Blob
    ? await createImageBitmap(img, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' }).catch((e: Error) => {
      throw new DiffusionError(`${'name' in img ? String(img.name) : 'image'}: cannot decode image (${e.message})`);
    })
    : (img as Exclude<ImageInput, Blob | ImageData>);
  const width = 'naturalWidth' in source ? source.naturalWidth : source.width;
  const height = 'naturalHeight' in source ? source.naturalHeight : source.height;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source as CanvasImageSource, 0, 0);
  return { rgba: ctx.getImageData(0, 0, width, height).data, width, height };
}

/**
 * The images as a data set for `Trainer.fit`, at the model's size and channels (from
 * `trainer.config.image`), with optional class labels.
 */
export async function imageDataset(images: readonly ImageInput[], o: ImageDatasetOptions): Promise<MemoryDataset> {
  const name = o.name ?? 'page images';
  if (images.length === 0) throw new DiffusionError(`${name}: no images`);
  if (o.labels && o.labels.length !== images.length) throw new DiffusionError(`${name}: ${o.labels.length} labels for ${images.length} images`);
  const per = o.channels * o.size * o.size;
  const data = new Uint8Array(images.length * per);
  for (let i = 0; i < images.length; i++) {
    const { rgba, width, height } = await readPixels(images[i]);
    const block = await fitImages({ data: rgbaToChw(rgba, width, height), n: 1, c: 3, h: height, w: width }, o, `${name}[${i}]`);
    data.set(block.data, i * per);
  }
  const labels = o.labels ? Int32Array.from(o.labels) : undefined;
  const numClasses = labels ? (o.classNames?.length ?? Math.max(...labels) + 1) : undefined;
  return new MemoryDataset({
    name, length: images.length, channels: o.channels, height: o.size, width: o.size, images: data, labels, numClasses, classNames: o.classNames,
  });
}
