import type { Builder, Value } from '../onnx/builder';

/**
 * Linear layer y = x W^T + b over the last axis. Weight layout is PyTorch's: `<scope>.weight`
 * [out, in] (so weights copy across frameworks unchanged), `<scope>.bias` [out]. A 2-D input is
 * one Gemm(transB=1); higher ranks use MatMul(x, Transpose(W)) + Add. Init as nn.Linear:
 * uniform in +-1/sqrt(in).
 */
export function linear(b: Builder, x: Value, outFeatures: number, o: { bias?: boolean } = {}): Value {
  const inFeatures = x.shape[x.shape.length - 1];
  if (typeof inFeatures !== 'number') throw new Error(`linear: input features must be static, got ${inFeatures}`);
  const w = b.param('weight', [outFeatures, inFeatures], 'kaiming-uniform');
  const bias = o.bias === false ? null : b.param('bias', [outFeatures], { uniform: 1 / Math.sqrt(inFeatures) });
  if (x.shape.length === 2) return b.gemm(x, w, bias, { transB: true });
  const y = b.matmul(x, b.transpose(w, [1, 0]));
  return bias ? b.add(y, bias) : y;
}
