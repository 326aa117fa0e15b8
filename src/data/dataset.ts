/**
 * The data set contract every loader implements. Data sets here are small: loaders decode
 * everything up front (stored as uint8), so reading an image is synchronous and cheap.
 */

export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Number of classes when `label` is present. */
  readonly numClasses?: number;
  readonly classNames?: string[];
  /** Width of the multi-hot vector when `multiLabel` is present. */
  readonly labelDim?: number;
  /** Channels of the condition image when `cond` is present (same height and width). */
  readonly condChannels?: number;
  /** Writes image i as CHW float32 in [-1, 1] at out[offset..]. */
  image(i: number, out: Float32Array, offset: number): void;
  /** Class id of image i in [0, numClasses). */
  label?(i: number): number;
  /** Writes the 0/1 multi-hot vector of image i (labelDim values) at out[offset..]. */
  multiLabel?(i: number, out: Float32Array, offset: number): void;
  /** Writes the condition image of i as CHW float32 in [-1, 1] at out[offset..]. */
  cond?(i: number, out: Float32Array, offset: number): void;
  /** Per-image tensors for conditioning inputs of any name (manifest data): name -> dims of one image's. */
  readonly tensors?: Record<string, number[]>;
  /** Writes tensor `name` of image i (the product of tensors[name] values) at out[offset..]. */
  tensor?(name: string, i: number, out: Float32Array, offset: number): void;
}

/** What the caller (the recipe) wants: every data set is converted to this shape on load. */
export interface DatasetRequest {
  channels: number;
  /** Images are size x size. */
  size: number;
  /** Channels of condition images (paired data); default = channels. */
  condChannels?: number;
  /** Seed for procedural data sets (default 0). */
  seed?: number;
  /** The model's noisy-input name, under which manifest lines may give it as a tensor (default: x, sample, ...). */
  sample?: string;
}
