/**
 * onnxruntime-node, required on first use: `require('onnx-diffusion')` does not load the native
 * binding (about 60 ms and 30 MB of shared libraries) until a session is created.
 */
import type * as OrtNode from 'onnxruntime-node';

let loaded: typeof OrtNode | undefined;

/** The onnxruntime-node module, loaded once. */
export function ortNode(): typeof OrtNode {
  return (loaded ??= require('onnxruntime-node') as typeof OrtNode);
}
