import type { Builder, Value } from '../onnx/builder';

export interface Conv2dOptions {
  kernel?: number;
  stride?: number;
  /** Symmetric zero padding; default kernel >> 1 ("same" for odd kernels at stride 1). */
  pad?: number;
  bias?: boolean;
}

/**
 * Conv2d with bias, parameters `<scope>.weight` [out, in, k, k] and `<scope>.bias` [out].
 * Init as PyTorch's nn.Conv2d: weight and bias uniform in +-1/sqrt(fan_in), fan_in = in*k*k.
 */
export function conv2d(b: Builder, x: Value, outChannels: number, o: Conv2dOptions = {}): Value {
  const k = o.kernel ?? 3;
  const pad = o.pad ?? k >> 1;
  const inChannels = x.shape[1];
  if (typeof inChannels !== 'number') throw new Error(`conv2d: input channels must be static, got ${inChannels}`);
  const fanIn = inChannels * k * k;
  const w = b.param('weight', [outChannels, inChannels, k, k], 'kaiming-uniform');
  const bias = o.bias === false ? null : b.param('bias', [outChannels], { uniform: 1 / Math.sqrt(fanIn) });
  const s = o.stride ?? 1;
  return b.conv(x, w, bias, { strides: [s, s], pads: [pad, pad, pad, pad] });
}
