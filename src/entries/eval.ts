/**
 * `onnx-diffusion/eval`: sample-quality scores over the shipped Fashion-MNIST feature network:
 * Fréchet distance, precision/recall, class confidence, entropy and accuracy (docs/evaluate.md).
 */
export { evaluate, createEvaluator, type EvaluateOptions, type Evaluation, type Evaluator, type EvaluatorOptions, type Scores } from '../eval/evaluate';
export { FeatureNet, defaultClassifierPath, type Embedding } from '../eval/feature-net';
export {
  frechetDistance, featureStats, precisionRecall, meanConfidence, classEntropy, classAccuracy, predictedClasses, type FeatureStats,
} from '../eval/scores';
