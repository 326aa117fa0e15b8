import * as fs from 'fs';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { fixture } from './paths';
import { Wire } from './protowire';

/** A ModelProto (IR 8, opset 17) whose graph has one initializer of dims [65536, 65536] and no data. */
export function hugeModelBytes(): Uint8Array {
  const tensorType = new Wire().bytesField(1, new Wire().int(1, 1).finish()).finish(); // TypeProto{tensor_type{elem_type FLOAT}}
  const tensor = new Wire().packedInts(1, [65536, 65536]).int(2, 1).string(8, 'huge').finish();
  const input = new Wire().string(1, 'x').bytesField(2, tensorType).finish();
  const node = new Wire().string(1, 'huge').string(2, 'y').string(4, 'Identity').finish();
  const output = new Wire().string(1, 'y').bytesField(2, tensorType).finish();
  const graph = new Wire().bytesField(1, node).string(2, 'g').bytesField(5, tensor).bytesField(11, input).bytesField(12, output).finish();
  const opset = new Wire().string(1, '').int(2, 17).finish();
  return new Wire().int(1, 8).bytesField(7, graph).bytesField(8, opset).finish();
}

/** The PyTorch fixture with node 5's first input renamed to a value nothing defines. */
export function undefinedValueModelBytes(): Uint8Array {
  const path = fixture('torch-unet-16px.onnx');
  const m = decodeModel(fs.readFileSync(path), path);
  m.graph.nodes[5].inputs[0] = 'no.such.value';
  return encodeModel(m);
}
