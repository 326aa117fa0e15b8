/**
 * Scoring generated images against real ones with the feature network: `createEvaluator` embeds
 * the reference (the Fashion-MNIST test split) once and scores any batch of images;
 * `evaluate` scores a model (sampled with any sampler) or a folder of images, next to the floor:
 * real training-split images scored the same way at the same N.
 */
import type { Dataset } from '../data/dataset';
import { openDataset } from '../data/open';
import { createSampler, CreateSamplerOptions, SamplerModel } from '../diffusion/sampler';
import { Rng } from '../core/rng';
import { DiffusionError } from '../core/errors';
import { loadModel } from '../runtime/load';
import { loadCascade, loadEnsemble } from '../runtime/cascades';
import type { Device } from '../runtime/node';
import { Embedding, FeatureNet } from './feature-net';
import {
  classAccuracy, classEntropy, featureStats, FeatureStats, frechetDistance, meanConfidence, precisionRecall, predictedClasses,
} from './scores';

/** Scores of one set of images. */
export interface Scores {
  /** What was scored (a model and sampler, a folder, a data split). */
  source: string;
  n: number;
  /** Fréchet distance of the classifier's penultimate features to the reference set. */
  fd: number;
  /** Mean top-class probability. */
  confidence: number;
  /** Entropy (bits) of the predicted-class histogram; log2(10) = 3.32 when balanced. */
  entropy: number;
  /** k-NN precision and recall (Kynkäänniemi et al. 2019) against n reference images. */
  precision: number;
  recall: number;
  /** Class-conditional samples: share classified as the class they were asked for. */
  accuracy?: number;
}

export interface EvaluatorOptions {
  /** Classifier file or a loaded one (default: models/fashion-mnist-classifier/model.onnx). */
  classifier?: string | FeatureNet;
  /** Reference data spec (default 'fashion-mnist', the embedded test split). */
  reference?: string;
  /** Reference images used for the FD statistics (default: all of them). */
  referenceN?: number;
  /** Neighbourhood size of precision/recall (default 3, as the paper). */
  k?: number;
  /** Seed of the reference subsets drawn for precision/recall and of the floor's images. */
  seed?: number;
  threads?: number;
  device?: Device;
}

export interface Evaluator {
  readonly net: FeatureNet;
  readonly reference: { name: string; n: number };
  /** Scores n images (NCHW floats in [-1, 1], any size, 1 or 3 channels). */
  score(images: Float32Array, n: number, o: { source: string; channels?: number; size?: number; requested?: ArrayLike<number> }): Promise<Scores>;
  /** Scores n images of a data set (seeded random subset; all of it when n >= its length). */
  scoreDataset(data: Dataset, n: number, source?: string): Promise<Scores>;
  /** Frees the feature network's session (when this evaluator loaded it). */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

/** n distinct indices of [0, total), seeded; all of them in order when n >= total. */
function subset(total: number, n: number, seed: number): Int32Array {
  const all = Int32Array.from({ length: total }, (_, i) => i);
  if (n >= total) return all;
  return new Rng(seed).shuffle(all).slice(0, n);
}

export async function createEvaluator(o: EvaluatorOptions = {}): Promise<Evaluator> {
  const own = !(o.classifier instanceof FeatureNet);
  const net = o.classifier instanceof FeatureNet ? o.classifier : await FeatureNet.load(o.classifier, { threads: o.threads, device: o.device });
  const k = o.k ?? 3;
  const seed = o.seed ?? 0;
  const refData = await openDataset(o.reference ?? 'fashion-mnist', net.config.image);
  const ref = await net.embedDataset(refData, subset(refData.length, o.referenceN ?? refData.length, seed));
  const refStats: FeatureStats = featureStats(ref.features, ref.n, ref.d);
  const refRows = (n: number): Float32Array => {
    // The first n rows of a seeded permutation: the same reference points for every set scored at this n.
    const idx = subset(ref.n, n, seed + 1);
    const out = new Float32Array(idx.length * ref.d);
    idx.forEach((r, i) => out.set(ref.features.subarray(r * ref.d, (r + 1) * ref.d), i * ref.d));
    return out;
  };

  const scoreEmbedding = (e: Embedding, source: string, requested?: ArrayLike<number>): Scores => {
    const predicted = predictedClasses(e.probs, e.n, e.k);
    const m = Math.min(e.n, ref.n);
    const pr = precisionRecall(refRows(m), m, e.features, e.n, e.d, k);
    return {
      source,
      n: e.n,
      fd: frechetDistance(featureStats(e.features, e.n, e.d), refStats),
      confidence: meanConfidence(e.probs, e.n, e.k),
      entropy: classEntropy(predicted, e.k),
      precision: pr.precision,
      recall: pr.recall,
      ...(requested ? { accuracy: classAccuracy(predicted, requested) } : {}),
    };
  };

  return {
    net,
    reference: { name: refData.name, n: ref.n },
    async score(images, n, s) {
      return scoreEmbedding(await net.embed(images, n, { channels: s.channels, size: s.size }), s.source, s.requested);
    },
    async scoreDataset(data, n, source = data.name) {
      return scoreEmbedding(await net.embedDataset(data, subset(data.length, n, seed + 2)), `${source} (${Math.min(n, data.length)} images)`);
    },
    async dispose() {
      if (own) await net.dispose();
    },
    async release() {
      if (own) await net.dispose();
    },
  };
}

export interface EvaluateOptions extends EvaluatorOptions {
  /** A model.onnx (or checkpoint folder) to sample from, or a loaded model. */
  model?: string | SamplerModel;
  /** A folder of images to score instead of a model. */
  images?: string;
  /** A cascade file (base model, then super-resolution stages) to sample and score; each stage's sampler and steps come from the file. */
  pipeline?: string;
  /** An experts file (one model per timestep range) to sample with `sampling` and score. */
  ensemble?: string;
  /** Images to sample (default 1000), or the most to read from the folder (default all). */
  n?: number;
  /** How to sample the model (sampler, steps, eta, guidance, classes, seed, batch...). */
  sampling?: CreateSamplerOptions;
  /** Data spec of the floor row (default 'fashion-mnist:full', the training split); false for none. */
  floor?: string | false;
}

export interface Evaluation {
  reference: { name: string; n: number };
  /** The scored model or folder. */
  scores: Scores;
  /** Real training images scored the same way at the same N, when the floor data is there. */
  floor?: Scores;
  /** Why there is no floor row, when there is none. */
  note?: string;
}

/** Which class the sampler asked for at each image (as createSampler assigns them). */
export function requestedClasses(n: number, classes: number, given?: number | number[]): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (given === undefined ? i % classes : typeof given === 'number' ? given : given[i % given.length]));
}

/** Scores a model's samples or a folder of images against the reference, with the real-data floor. */
export async function evaluate(o: EvaluateOptions): Promise<Evaluation> {
  if ([o.model, o.images, o.pipeline, o.ensemble].filter((v) => v !== undefined).length !== 1) {
    throw new DiffusionError('evaluate: give one of a model, a folder of images, a cascade file (pipeline) or an experts file (ensemble)');
  }
  if (o.n !== undefined && !(Number.isInteger(o.n) && o.n >= 2)) throw new DiffusionError(`evaluate: n must be an integer >= 2, got ${o.n}`);
  const ev = await createEvaluator(o);
  try {
    let scores: Scores;
    if (o.images !== undefined) {
      const data = await openDataset(`folder:${o.images}`, ev.net.config.image);
      scores = await ev.scoreDataset(data, o.n ?? data.length, `folder ${o.images}`);
    } else if (o.pipeline !== undefined) {
      const cascade = await loadCascade(o.pipeline, { threads: o.threads, device: o.device });
      try {
        const n = o.n ?? 1000;
        const res = await cascade.sample(n, { seed: o.sampling?.seed, batch: o.sampling?.batch, clipX0: o.sampling?.clipX0 });
        scores = await ev.score(res.images, n, { source: `${o.pipeline} (cascade of ${cascade.models.length})`, channels: res.c, size: res.h });
      } finally {
        await cascade.dispose();
      }
    } else {
      const opts = { threads: o.threads, device: o.device };
      const ens = o.ensemble !== undefined ? await loadEnsemble(o.ensemble, opts) : undefined;
      const loaded = typeof o.model === 'string' ? await loadModel(o.model, opts) : undefined;
      const model: SamplerModel = ens?.model ?? loaded ?? (o.model as SamplerModel);
      try {
        const n = o.n ?? 1000;
        const sampling = o.sampling ?? {};
        const res = await createSampler(model, sampling).sample(n);
        const cc = model.config.conditioning;
        const requested = cc.classes !== undefined && cc.classes === ev.net.config.classes ? requestedClasses(n, cc.classes, sampling.classes) : undefined;
        const name = o.ensemble ?? (typeof o.model === 'string' ? o.model : 'model');
        const how = model.config.kind === 'gaussian' ? `${sampling.sampler ?? 'ddim'} ${sampling.steps ?? ''}`.trim() : model.config.kind;
        scores = await ev.score(res.images, n, { source: `${name} (${ens ? `${ens.models.length} experts, ` : ''}${how})`, channels: res.c, size: res.h, requested });
      } finally {
        await loaded?.dispose();
        await ens?.dispose();
      }
    }
    let floor: Scores | undefined;
    let note: string | undefined;
    if (o.floor !== false) {
      try {
        const real = await openDataset(o.floor ?? 'fashion-mnist:full', ev.net.config.image);
        floor = await ev.scoreDataset(real, scores.n, `real ${real.name}`);
      } catch (e) {
        note = `no floor row: ${(e as Error).message}`;
      }
    }
    return { reference: ev.reference, scores, floor, note };
  } finally {
    await ev.dispose();
  }
}
