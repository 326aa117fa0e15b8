/**
 * onnx-proto, whichever way this package is built. It is CommonJS only (`module.exports = $root`,
 * no named ES exports), so `import { onnx } from 'onnx-proto'` fails in Node's ES-module loader;
 * a default import is `module.exports` under tsc's CommonJS (esModuleInterop), Node's ESM and every
 * bundler alike, so it is the one form all three builds (dist/, dist/index.mjs, dist/esm/) share.
 * Both exports are @internal: onnx-proto's types stay out of the published .d.ts.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Types } from 'onnx-proto';

/** @internal */
export const onnx = onnxProto.onnx;

/** @internal The message types proto.ts names (a type-only namespace merges with the value above). */
export declare namespace onnx {
  type ITensorProto = Types.ITensorProto;
  type IValueInfoProto = Types.IValueInfoProto;
  type IAttributeProto = Types.IAttributeProto;
  type IGraphProto = Types.IGraphProto;
  type IModelProto = Types.IModelProto;
  type INodeProto = Types.INodeProto;
  type ModelProto = Types.ModelProto;
  namespace TensorShapeProto { type Dimension = Types.TensorShapeProto.Dimension }
  namespace TypeProto { type ITensor = Types.TypeProto.ITensor }
}
