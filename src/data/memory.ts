/** An in-memory data set over uint8 CHW images: what every loader here builds. */
import type { Dataset } from './dataset';

export interface MemoryDatasetInit {
  name: string;
  length: number;
  channels: number;
  height: number;
  width: number;
  /** length * channels * height * width bytes, CHW per image. */
  images: Uint8Array;
  labels?: Int32Array;
  numClasses?: number;
  classNames?: string[];
  /** length * labelDim values, 0 or 1. */
  multiLabels?: Uint8Array;
  labelDim?: number;
  /** length * condChannels * height * width bytes. */
  condImages?: Uint8Array;
  condChannels?: number;
}

function writeFloats(src: Uint8Array, start: number, count: number, out: Float32Array, offset: number): void {
  for (let k = 0; k < count; k++) out[offset + k] = src[start + k] / 127.5 - 1;
}

export class MemoryDataset implements Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly numClasses?: number;
  readonly classNames?: string[];
  readonly labelDim?: number;
  readonly condChannels?: number;
  readonly label?: (i: number) => number;
  readonly multiLabel?: (i: number, out: Float32Array, offset: number) => void;
  readonly cond?: (i: number, out: Float32Array, offset: number) => void;
  private readonly images: Uint8Array;

  constructor(init: MemoryDatasetInit) {
    this.name = init.name;
    this.length = init.length;
    this.channels = init.channels;
    this.height = init.height;
    this.width = init.width;
    this.images = init.images;
    const size = init.channels * init.height * init.width;
    if (init.images.length !== init.length * size) {
      throw new RangeError(`${init.name}: ${init.images.length} image bytes for ${init.length} images of ${size}`);
    }
    const { labels, multiLabels, condImages } = init;
    if (labels !== undefined) {
      this.numClasses = init.numClasses;
      this.classNames = init.classNames;
      this.label = (i) => labels[this.check(i)];
    }
    if (multiLabels !== undefined && init.labelDim !== undefined) {
      const dim = init.labelDim;
      this.labelDim = dim;
      this.multiLabel = (i, out, offset) => {
        const start = this.check(i) * dim;
        for (let k = 0; k < dim; k++) out[offset + k] = multiLabels[start + k];
      };
    }
    if (condImages !== undefined && init.condChannels !== undefined) {
      const cs = init.condChannels * init.height * init.width;
      this.condChannels = init.condChannels;
      this.cond = (i, out, offset) => writeFloats(condImages, this.check(i) * cs, cs, out, offset);
    }
  }

  image(i: number, out: Float32Array, offset: number): void {
    const size = this.channels * this.height * this.width;
    writeFloats(this.images, this.check(i) * size, size, out, offset);
  }

  private check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`${this.name}: index ${i} outside [0, ${this.length})`);
    }
    return i;
  }
}
