/**
 * A small image classifier whose penultimate layer is the feature space of the evaluator (FD,
 * precision/recall): conv blocks (3x3 conv, GroupNorm, ReLU; stride 2 halves the size), global
 * average pooling (or a 1x1 conv, flattened), a ReLU feature layer, and a linear layer to the class logits.
 *
 *   x [N, C, S, S] in [-1, 1] -> features [N, F] (>= 0), logits [N, K]
 */
import { Builder, Value } from '../onnx/builder';
import { Model, newModel } from '../onnx/ir';
import { conv2d } from './conv';
import { linear } from './linear';
import { groupNorm } from './norm';

/** Metadata key of classifier files; the value is a ClassifierConfig as JSON. */
export const CLASSIFIER_KEY = 'onnx-diffusion-classifier';
export const CLASSIFIER_FORMAT = 'onnx-diffusion-classifier/1';

export interface ClassifierOptions {
  image: { channels: number; size: number };
  classes: number;
  /** Output channels of each conv block, with its stride: e.g. [[32, 1], [32, 2], [64, 1]]. */
  blocks: [number, 1 | 2][];
  /**
   * Head: 0 = global average pooling; C > 0 = a 1x1 conv to C channels, flattened (keeps where
   * things are: Fashion-MNIST's shirts, pullovers and coats differ mostly in layout).
   */
  flatten: number;
  /** Width of the penultimate (feature) layer. */
  features: number;
  /** GroupNorm groups in every block (0 = no normalisation). */
  groups: number;
  seed: number;
}

/** What a classifier file says about itself (metadata_props[CLASSIFIER_KEY]). */
export interface ClassifierConfig {
  format: typeof CLASSIFIER_FORMAT;
  image: { channels: number; size: number };
  classes: number;
  classNames?: string[];
  features: number;
  architecture: Omit<ClassifierOptions, 'image' | 'classes' | 'features'>;
  /** Filled in by the training script. */
  training?: { data: string; steps: number; batch: number; testAccuracy: number; seconds: number };
}

/** The Fashion-MNIST feature network shipped in models/fashion-mnist-classifier/. */
export const FASHION_MNIST_CLASSIFIER: ClassifierOptions = {
  image: { channels: 1, size: 28 },
  classes: 10,
  blocks: [[16, 1], [32, 2], [32, 1], [64, 2], [64, 1]],
  flatten: 16,
  features: 128,
  groups: 8,
  seed: 0,
};

/** Emits the network; returns its two outputs. */
export function classifierNet(b: Builder, x: Value, o: ClassifierOptions): { features: Value; logits: Value } {
  let h = x;
  o.blocks.forEach(([channels, stride], i) => {
    h = b.scope(`block.${i}`, () => {
      let y = b.scope('conv', () => conv2d(b, h, channels, { stride }));
      if (o.groups > 0) y = b.scope('norm', () => groupNorm(b, y, o.groups));
      return b.relu(y);
    });
  });
  const pooled = o.flatten > 0 ? b.flatten(b.relu(b.scope('reduce', () => conv2d(b, h, o.flatten, { kernel: 1 })))) : b.reduceMean(h, [2, 3], false);
  const features = b.relu(b.scope('feature', () => linear(b, pooled, o.features)));
  const logits = b.scope('head', () => linear(b, features, o.classes));
  return { features, logits };
}

/** A seeded, untrained classifier model with inputs `x` and outputs `logits`, `features`. */
export function buildClassifier(o: ClassifierOptions, classNames?: string[]): Model {
  const b = new Builder(undefined, { seed: o.seed });
  b.graph.name = 'classifier';
  const x = b.input('x', 'float32', ['N', o.image.channels, o.image.size, o.image.size]);
  const { features, logits } = classifierNet(b, x, o);
  b.output(logits, 'logits');
  b.output(features, 'features');
  const { image, classes, features: width, ...architecture } = o;
  const config: ClassifierConfig = { format: CLASSIFIER_FORMAT, image: { ...image }, classes, classNames, features: width, architecture };
  return newModel(b.graph, { [CLASSIFIER_KEY]: JSON.stringify(config) });
}
