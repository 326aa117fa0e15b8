import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Graph, newModel, Model } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { decodeModel, decodeModelHeader, encodeModel } from '../../src/onnx/proto';
import { externalRefs, externalTensorProto } from '../../src/onnx/external-data';
import { onnx } from '../../src/onnx/onnx-proto';
import { checkExternalData, encodeModelToFiles, readModelFiles, readModelHeader } from '../../src/runtime/model-files';
import { NodeSession } from '../../src/runtime/node';
import { fixture } from '../helpers/paths';

/** y = x * w1 + w2 over [1, 300] float32 weights (1200 bytes each: above the 1024-byte cut). */
function smallModel(): Model {
  const g = new Graph();
  g.inputs.push({ name: 'x', dtype: 'float32', shape: [1, 300] });
  g.outputs.push({ name: 'y', dtype: 'float32', shape: [1, 300] });
  g.initializers.set('w1', Tensor.float32([1, 300], Array.from({ length: 300 }, (_, i) => i / 10)));
  g.initializers.set('w2', Tensor.float32([1, 300], Array.from({ length: 300 }, (_, i) => -i)));
  g.initializers.set('small', Tensor.float32([1], [3]));
  g.nodes.push({ name: 'm', opType: 'Mul', domain: '', inputs: ['x', 'w1'], outputs: ['a'], attrs: {} });
  g.nodes.push({ name: 'a', opType: 'Add', domain: '', inputs: ['a', 'w2'], outputs: ['b'], attrs: {} });
  g.nodes.push({ name: 's', opType: 'Mul', domain: '', inputs: ['b', 'small'], outputs: ['y'], attrs: {} });
  return newModel(g);
}

/** A model file whose initializers point at hand-made external references (tensor -> [location, offset, length?]). */
function handMade(dir: string, refs: Record<string, [string, number, (number | 'rest')?]>): string {
  const m = smallModel();
  const p = onnx.ModelProto.decode(encodeModel(m));
  p.graph!.initializer = p.graph!.initializer!.map((t) => {
    const r = refs[t.name ?? ''];
    if (!r) return t;
    const proto = externalTensorProto(t.name!, 'float32', [1, 300], r[0], r[1], r[2] === 'rest' ? 0 : r[2] ?? 1200);
    if (r[2] === 'rest') proto.externalData = proto.externalData!.filter((e) => e.key !== 'length');
    return proto as onnx.TensorProto;
  });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode(p).finish());
  return file;
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'od-ext-'));
}

describe('onnx external data: read confined to the model folder, written streamed', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpdir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round trip: written with external data, read back bit-exact; ORT runs the file from its path in another working directory', async () => {
    const m = smallModel();
    const file = path.join(dir, 'model.onnx');
    const w = encodeModelToFiles(m, file, { externalData: true });
    assert.equal(w.location, 'model.onnx.data');
    // two 1200-byte tensors, the second aligned to 64 bytes
    assert.equal(fs.statSync(path.join(dir, 'model.onnx.data')).size, 1216 + 1200);
    const refs = externalRefs(fs.readFileSync(file));
    assert.deepEqual(refs.map((r) => [r.tensor, r.offset, r.length]), [['w1', 0, 1200], ['w2', 1216, 1200]]);
    const back = readModelFiles(file);
    for (const name of ['w1', 'w2', 'small']) assert.deepEqual(back.graph.initializers.get(name)!.data, m.graph.initializers.get(name)!.data);
    const header = readModelHeader(file);
    assert.deepEqual([...header.model.graph.initializers.keys()], ['small']);
    assert.equal(header.external.length, 2);
    const cwd = process.cwd();
    process.chdir(os.tmpdir());
    try {
      const s = await NodeSession.create(file);
      const y = (await s.run({ x: Tensor.float32([1, 300], new Array(300).fill(2)) })).y.toNumbers();
      await s.release();
      assert.deepEqual(y.slice(0, 3), [0, 3 * (0.2 - 1), 3 * (0.4 - 2)].map((v) => Math.fround(v)));
    } finally {
      process.chdir(cwd);
    }
  });

  it("'auto' keeps small models inline and writes external data above the threshold", () => {
    const file = path.join(dir, 'a.onnx');
    assert.equal(encodeModelToFiles(smallModel(), file).location, undefined);
    assert.equal(externalRefs(fs.readFileSync(file)).length, 0);
    assert.equal(encodeModelToFiles(smallModel(), file, { threshold: 1000 }).location, 'a.onnx.data');
    assert.equal(externalRefs(fs.readFileSync(file)).length, 2);
  });

  it('reads tensors spread over several files, with and without a length', () => {
    const w1 = new Float32Array(300).map((_, i) => i);
    const w2 = new Float32Array(300).map((_, i) => 1 - i);
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'a.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(w1.buffer)]));
    fs.writeFileSync(path.join(dir, 'sub', 'b.bin'), Buffer.from(w2.buffer));
    const file = handMade(dir, { w1: ['a.bin', 8], w2: ['sub/b.bin', 0, 'rest'] });
    const m = readModelFiles(file);
    assert.deepEqual(m.graph.initializers.get('w1')!.data, w1);
    assert.deepEqual(m.graph.initializers.get('w2')!.data, w2);
  });

  it('the tiny-sd UNet: every tensor in weights.pb decodes to the bytes at its offset, and the refs cover the file', () => {
    const file = fixture('tiny-sd/unet/model.onnx');
    const pb = fs.readFileSync(fixture('tiny-sd/unet/weights.pb'));
    const m = readModelFiles(file);
    const refs = externalRefs(fs.readFileSync(file));
    assert.ok(refs.length > 50);
    let covered = 0;
    for (const r of refs) {
      const t = m.graph.initializers.get(r.tensor)!;
      assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(pb.subarray(r.offset, r.offset + r.length!)), r.tensor);
      covered += r.length!;
    }
    assert.equal(covered, pb.length);
    assert.throws(() => decodeModel(fs.readFileSync(file), 'unet'), /^DiffusionError: unet: tensor '.+': its data is in the external file 'weights.pb'; load the model from its path/);
  });

  describe('refusals, in one line naming tensor and file, before anything outside is opened', () => {
    const data = () => fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(2400));
    const cases: [string, () => string, RegExp][] = [
      ['an absolute location', () => handMade(dir, { w1: ['/etc/passwd', 0] }), /tensor 'w1': external data location '\/etc\/passwd' is an absolute path/],
      ['a location going up', () => handMade(dir, { w1: ['../w.bin', 0] }), /tensor 'w1': external data location '..\/w.bin' goes up with '..'/],
      ['a Windows drive path', () => handMade(dir, { w1: ['C:\\w.bin', 0] }), /is an absolute path/],
      ['a symlink pointing out', () => {
        const outside = tmpdir();
        fs.writeFileSync(path.join(outside, 'w.bin'), Buffer.alloc(2400));
        fs.symlinkSync(path.join(outside, 'w.bin'), path.join(dir, 'link.bin'));
        return handMade(dir, { w1: ['link.bin', 0] });
      }, /tensor 'w1': external data location 'link.bin' resolves outside the model's folder \(a symlink to .+\)/],
      ['a missing file', () => handMade(dir, { w1: ['nope.bin', 0] }), /tensor 'w1': external data file 'nope.bin' does not exist beside/],
      ['an offset past the file', () => (data(), handMade(dir, { w1: ['w.bin', 3000] })), /tensor 'w1' in 'w.bin': offset 3000 is past the end of the file \(2400 bytes\)/],
      ['a length past the file', () => (data(), handMade(dir, { w1: ['w.bin', 2000] })), /tensor 'w1' in 'w.bin': offset 2000 \+ length 1200 is past the end of the file \(2400 bytes\)/],
      ['a size that does not match', () => (data(), handMade(dir, { w1: ['w.bin', 0, 1000] })), /tensor 'w1' in 'w.bin': 1000 bytes, but dims \[1,300\] of float32 need 1200/],
      ['a rest-of-file that does not match', () => (data(), handMade(dir, { w1: ['w.bin', 0, 'rest'] })), /tensor 'w1' in 'w.bin': 2400 bytes, but dims \[1,300\] of float32 need 1200/],
    ];
    for (const [what, make, re] of cases) {
      it(what, () => {
        const file = make();
        const bytes = fs.readFileSync(file);
        for (const f of [() => readModelFiles(file), () => readModelHeader(file), () => checkExternalData(file, bytes)]) {
          assert.throws(f, (e: Error) => e.name === 'DiffusionError' && re.test(e.message) && !e.message.includes('\n'));
        }
      });
    }
  });

  it('decodeModelHeader lists external initializers and keeps the graph checkable', () => {
    const file = path.join(dir, 'model.onnx');
    encodeModelToFiles(smallModel(), file, { externalData: true });
    const { model, external } = decodeModelHeader(fs.readFileSync(file));
    assert.deepEqual(external.map((r) => [r.tensor, r.dtype, r.dims]), [['w1', 'float32', [1, 300]], ['w2', 'float32', [1, 300]]]);
    assert.equal(model.graph.nodes.length, 3);
  });
});
