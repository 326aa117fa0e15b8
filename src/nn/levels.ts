/** Between UNet levels: resolution changes (downsample, upsample) and context modulation. */
import type { Builder, Value } from '../onnx/builder';
import { conv2d } from './conv';
import { constant } from './constant';
import { linear } from './linear';

/** Halves H and W with a 3x3 stride-2 conv (pad 1), channels kept (DDPM). */
export function downsample(b: Builder, x: Value): Value {
  return conv2d(b, x, x.shape[1] as number, { kernel: 3, stride: 2, pad: 1 });
}

/** Doubles H and W: nearest-neighbour Resize x2, then a 3x3 conv (DDPM). */
export function upsample(b: Builder, x: Value): Value {
  const up = b.op('Resize', [x, null, constant(b, [1, 1, 2, 2])], {
    mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
  });
  return conv2d(b, up, x.shape[1] as number, { kernel: 3 });
}

/**
 * Context modulation: a context embedding ctx [N, D] (class and/or labels) projected to the
 * channels of x multiplies the features, h * (1 + Linear(ctx)), while the time embedding adds.
 */
export function modulate(b: Builder, x: Value, ctx: Value): Value {
  const c = x.shape[1] as number;
  const g = b.reshape(linear(b, ctx, c), [0, c, 1, 1]);
  return b.mul(x, b.add(g, constant(b, 1)));
}
