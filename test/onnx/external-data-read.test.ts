import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderFiles } from '../../src/core/node/external-files';
import { decodeModelWithExternalData } from '../../src/onnx/external-data-read';
import { Graph, newModel } from '../../src/onnx/ir';
import { onnx } from '../../src/onnx/onnx-proto';
import { encodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';

// A model whose two weights live in external files, written the way onnx.save_model does it:
// data_location EXTERNAL and the keys location / offset / length.
function externalModel(entries: { location: string; offset?: number; length?: number }[]): Uint8Array {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', shape: [3] }];
  g.outputs = [{ name: 'y', dtype: 'float32', shape: [3] }];
  g.initializers.set('a', Tensor.float32([3], [0, 0, 0]));
  g.initializers.set('b', Tensor.float32([3], [0, 0, 0]));
  g.nodes = [
    { name: 'add', opType: 'Add', domain: '', inputs: ['x', 'a'], outputs: ['xa'], attrs: {} },
    { name: 'mul', opType: 'Mul', domain: '', inputs: ['xa', 'b'], outputs: ['y'], attrs: {} },
  ];
  const p = onnx.ModelProto.decode(encodeModel(newModel(g)));
  p.graph!.initializer!.forEach((t, i) => {
    const e = entries[i];
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: e.location },
      ...(e.offset !== undefined ? [{ key: 'offset', value: String(e.offset) }] : []),
      ...(e.length !== undefined ? [{ key: 'length', value: String(e.length) }] : []),
    ];
  });
  return onnx.ModelProto.encode(p).finish();
}

describe('onnx: external data, read (external-data-read.ts, core/node/external-files.ts)', () => {
  let dir: string;
  const bytes = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'extdata-'));
    mkdirSync(join(dir, 'model'));
    mkdirSync(join(dir, 'model', 'sub'));
    writeFileSync(join(dir, 'model', 'weights.pb'), Buffer.concat([Buffer.alloc(8), bytes([1, 2, 3]), bytes([4, 5, 6])]));
    writeFileSync(join(dir, 'model', 'sub', 'b.bin'), bytes([7, 8, 9]));
    writeFileSync(join(dir, 'secret.bin'), bytes([1, 1, 1]));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = (entries: { location: string; offset?: number; length?: number }[]) =>
    decodeModelWithExternalData(externalModel(entries), 'model.onnx', folderFiles(join(dir, 'model')));

  it('reads each tensor at its offset and length, from several files', () => {
    const m = load([{ location: 'weights.pb', offset: 8, length: 12 }, { location: 'sub/b.bin' }]);
    assert.deepEqual(m.graph.initializers.get('a')!.toNumbers(), [1, 2, 3]);
    assert.deepEqual(m.graph.initializers.get('b')!.toNumbers(), [7, 8, 9]);
    const m2 = load([{ location: 'weights.pb', offset: 20, length: 12 }, { location: 'weights.pb', offset: 8 }]);
    assert.deepEqual(m2.graph.initializers.get('a')!.toNumbers(), [4, 5, 6]);
    assert.deepEqual(m2.graph.initializers.get('b')!.toNumbers(), [1, 2, 3]);
  });

  it('refuses in one line naming the tensor and the file: outside the folder, past the end, a wrong size, a missing file', () => {
    const ok = { location: 'sub/b.bin' };
    const folder = join(dir, 'model');
    assert.throws(() => load([{ location: '../secret.bin' }, ok]), { message: `../secret.bin: tensor 'a': external data location is outside the model's folder ${folder}` });
    assert.throws(() => load([{ location: join(dir, 'secret.bin') }, ok]), { message: `${join(dir, 'secret.bin')}: tensor 'a': external data location is outside the model's folder ${folder}` });
    symlinkSync(join(dir, 'secret.bin'), join(folder, 'link.bin'));
    assert.throws(() => load([{ location: 'link.bin' }, ok]), { message: `link.bin: tensor 'a': external data location is outside the model's folder ${folder}` });
    assert.throws(() => load([{ location: 'weights.pb', offset: 24, length: 12 }, ok]), {
      message: "weights.pb: tensor 'a': external data offset 24 + length 12 is past the end of the file (32 bytes)",
    });
    assert.throws(() => load([{ location: 'weights.pb', offset: 0, length: 8 }, ok]), { message: "weights.pb: tensor 'a': external data has 8 bytes, dims [3] need 12" });
    assert.throws(() => load([{ location: 'none.bin' }, ok]), { message: `${join(folder, 'none.bin')}: tensor 'a': no such external data file` });
  });
});
