import type { Tensor as OrtTensor } from 'onnxruntime-common';
import { DiffusionError } from '../core/errors';
import { DType, Tensor } from '../onnx/tensor';

/**
 * Conversions between our Tensor and an ONNX Runtime tensor. The ORT module is passed in so the
 * same code binds onnxruntime-node and onnxruntime-web.
 */
export interface OrtLike {
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
}

const ORT_TYPE: Record<DType, string> = {
  float32: 'float32', float16: 'float16', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

export function toOrt(ort: OrtLike, t: Tensor): OrtTensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data, t.dims);
}

export function fromOrt(t: OrtTensor): Tensor {
  const dtype = Object.entries(ORT_TYPE).find(([, v]) => v === t.type)?.[0] as DType | undefined;
  if (!dtype) throw new DiffusionError(`ONNX Runtime tensor type ${t.type} is not supported`);
  const data = t.data as Tensor['data'];
  return new Tensor(dtype, [...t.dims], dtype === 'bool' && !(data instanceof Uint8Array) ? Uint8Array.from(data as unknown as ArrayLike<number>) : data);
}
