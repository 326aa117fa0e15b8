/**
 * `onnx-diffusion/graph`: the ONNX layer. The graph IR (Graph, Node, Tensor), the Builder DSL,
 * protobuf reading and writing, shape inference, external data and the tensor file formats
 * (safetensors, .npy).
 */
export * from '../onnx/tensor';
export * from '../onnx/ir';
export { decodeModel, encodeModel, decodeModelHeader, checkGraph, type DecodeOptions, type TensorLocation } from '../onnx/proto';
export { inferGraph, inferNode, type Known } from '../onnx/infer';
export { Builder, type Value, type Init, type AttrInput, type ConvOptions, type ConvTransposeOptions, type PoolOptions } from '../onnx/builder';
export { halfPrecisionWeights, fullPrecisionWeights, type HalfWeightsOptions, type HalfWeightsReport } from '../onnx/fp16';
export { readMetadata } from '../onnx/metadata';
export { planExternalData, DEFAULT_EXTERNAL_THRESHOLD, type ExternalRef, type ExternalDataOptions } from '../onnx/external-data';
export { encodeModelToFiles, readModelFiles, readModelHeader, checkExternalData, type WriteModelOptions, type WrittenModel } from '../runtime/model-files';
export { encodeSafetensors, decodeSafetensors, type SafeTensors } from '../onnx/safetensors';
export { decodeNpy, encodeNpy, npyToFloat32, NpyError, type NpyArray, type NpyDtype } from '../data/npy';
export { readNpyFile } from '../data/npy-file';
export { DiffusionError, FileFormatError } from '../core/errors';
