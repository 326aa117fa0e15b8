/**
 * The evaluator's feature network: a classifier file (nn/classifier.ts) in onnxruntime-node that
 * maps images to penultimate features and class probabilities. Images slightly larger than the
 * classifier's input (by at most a quarter, e.g. 32x32 for 28x28) are centre-cropped: the data
 * loaders centre such data on background (data/fit.ts, padsTo), so a model trained on padded 28 px
 * images draws its picture in the centre and the crop gives back the data's own frame. Resizing
 * instead would shrink every garment by 12.5 % and score the shrinking, not the model. Images of
 * any other size or channel count are quantised to bytes (as a PNG would be) and fitted with
 * data/fit.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset';
import { fitImages, padsTo } from '../data/fit';
import { packageRoot } from '../core/node/package-files';
import { DiffusionError, FileFormatError } from '../core/errors';
import { fromByte, toUint8 } from '../image/pixels';
import { CLASSIFIER_FORMAT, CLASSIFIER_KEY, ClassifierConfig } from '../nn/classifier';
import { Model } from '../onnx/ir';
import { readMetadata } from '../onnx/metadata';
import { encodeModel } from '../onnx/proto';
import { Tensor } from '../onnx/tensor';
import { NodeSession, SessionOptions } from '../runtime/node';

/** The classifier shipped with the package. */
export function defaultClassifierPath(): string {
  return join(packageRoot(), 'models', 'fashion-mnist-classifier', 'model.onnx');
}

/** Features and class probabilities of n images. */
export interface Embedding {
  n: number;
  /** Feature width d; `features` is n x d, row-major. */
  d: number;
  features: Float32Array;
  /** Classes k; `probs` is n x k, softmax of the logits. */
  k: number;
  probs: Float32Array;
}

function readConfig(metadata: Record<string, string>, source: string): ClassifierConfig {
  const raw = metadata[CLASSIFIER_KEY];
  if (raw === undefined) throw new FileFormatError(source, `not a classifier file (no '${CLASSIFIER_KEY}' metadata)`);
  let config: ClassifierConfig;
  try {
    config = JSON.parse(raw) as ClassifierConfig;
  } catch (e) {
    throw new FileFormatError(source, `bad '${CLASSIFIER_KEY}' metadata: ${(e as Error).message}`);
  }
  if (config.format !== CLASSIFIER_FORMAT) throw new FileFormatError(source, `classifier format '${config.format}', expected '${CLASSIFIER_FORMAT}'`);
  return config;
}

export class FeatureNet {
  private constructor(
    private readonly session: NodeSession,
    readonly config: ClassifierConfig,
    readonly source: string,
  ) {}

  /** Loads a classifier file (default: the shipped Fashion-MNIST classifier) or an in-memory model. */
  static async load(file: string | Model = defaultClassifierPath(), options: SessionOptions = {}): Promise<FeatureNet> {
    if (typeof file !== 'string') {
      const config = readConfig(file.metadata, 'classifier');
      return new FeatureNet(await NodeSession.create(encodeModel(file), options), config, 'classifier');
    }
    if (!existsSync(file)) throw new FileFormatError(file, 'no such classifier file');
    const bytes = readFileSync(file);
    const config = readConfig(readMetadata(bytes, file), file);
    return new FeatureNet(await NodeSession.create(bytes, options), config, file);
  }

  /** Features and probabilities of n images given as NCHW floats in [-1, 1] of any size and 1 or 3 channels. */
  async embed(images: Float32Array, n: number, o: { channels?: number; size?: number; batch?: number } = {}): Promise<Embedding> {
    const { channels, size } = this.config.image;
    const c = o.channels ?? channels;
    const s = o.size ?? size;
    if (images.length !== n * c * s * s) throw new DiffusionError(`embed: ${images.length} values are not ${n} images of ${c}x${s}x${s}`);
    let x = images;
    let h = s;
    if (s !== size && padsTo(size, size, s)) {
      x = centreCrop(x, n * c, s, size);
      h = size;
    }
    if (c !== channels || h !== size) {
      const fitted = await fitImages({ data: toUint8(x), n, c, h, w: h }, { channels, size }, this.source);
      x = Float32Array.from(fitted.data, fromByte);
    }
    const per = channels * size * size;
    const batch = o.batch ?? 500;
    const d = this.config.features;
    const k = this.config.classes;
    const features = new Float32Array(n * d);
    const probs = new Float32Array(n * k);
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const r = await this.session.run({ x: new Tensor('float32', [m, channels, size, size], x.subarray(i * per, (i + m) * per)) });
      features.set(r.features.data as Float32Array, i * d);
      probs.set(softmaxRows(r.logits.data as Float32Array, m, k), i * k);
    }
    return { n, d, features, k, probs };
  }

  /** Embeds the images at `indices` of a data set (opened at any size; fitted as above). */
  async embedDataset(data: Dataset, indices: ArrayLike<number>, batch = 500): Promise<Embedding> {
    const per = data.channels * data.height * data.width;
    const parts: Embedding[] = [];
    for (let i = 0; i < indices.length; i += batch) {
      const m = Math.min(batch, indices.length - i);
      const x = new Float32Array(m * per);
      for (let j = 0; j < m; j++) data.image(indices[i + j], x, j * per);
      if (data.height !== data.width) throw new DiffusionError(`${data.name}: images must be square, got ${data.height}x${data.width}`);
      parts.push(await this.embed(x, m, { channels: data.channels, size: data.height, batch }));
    }
    return concatEmbeddings(parts, this.config.features, this.config.classes);
  }

  /** Frees the ONNX Runtime session. */
  async dispose(): Promise<void> {
    await this.session.dispose();
  }

  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void> {
    return this.dispose();
  }
}

/** The centre size x size window of each of `planes` s x s planes (the inverse of the loaders' padding). */
export function centreCrop(x: Float32Array, planes: number, s: number, size: number): Float32Array {
  const off = Math.floor((s - size) / 2);
  const out = new Float32Array(planes * size * size);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < size; y++) {
      const src = (p * s + off + y) * s + off;
      out.set(x.subarray(src, src + size), (p * size + y) * size);
    }
  }
  return out;
}

function softmaxRows(z: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, z[i * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[i * k + j] = Math.exp(z[i * k + j] - max);
    for (let j = 0; j < k; j++) out[i * k + j] /= sum;
  }
  return out;
}

function concatEmbeddings(parts: Embedding[], d: number, k: number): Embedding {
  const n = parts.reduce((s, p) => s + p.n, 0);
  const features = new Float32Array(n * d);
  const probs = new Float32Array(n * k);
  let at = 0;
  for (const p of parts) {
    features.set(p.features, at * d);
    probs.set(p.probs, at * k);
    at += p.n;
  }
  return { n, d, features, k, probs };
}
