import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Builder } from '../../src/onnx/builder';
import { Graph, Model, newModel } from '../../src/onnx/ir';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { random, randTensor } from '../helpers/ort';
import { hugeModelBytes, undefinedValueModelBytes } from '../helpers/bad-models';
import { fixture } from '../helpers/paths';

const FIXTURE = fixture('torch-unet-16px.onnx');

/** Structural equality of two decoded models: every node, attribute, initializer byte, value and key. */
function assertSameModel(a: Model, b: Model): void {
  assert.equal(b.irVersion, a.irVersion);
  assert.deepEqual(b.opsetImports, a.opsetImports);
  assert.equal(b.producerName, a.producerName);
  assert.equal(b.producerVersion, a.producerVersion);
  assert.deepEqual(b.metadata, a.metadata);
  assertSameGraph(a.graph, b.graph);
}

function assertSameGraph(a: Graph, b: Graph): void {
  assert.equal(b.name, a.name);
  assert.deepEqual(b.inputs, a.inputs);
  assert.deepEqual(b.outputs, a.outputs);
  assert.deepEqual([...b.valueInfo], [...a.valueInfo]);
  assert.deepEqual([...b.initializers.keys()], [...a.initializers.keys()]);
  for (const [name, t] of a.initializers) {
    const u = b.initializers.get(name)!;
    assert.equal(u.dtype, t.dtype, name);
    assert.deepEqual(u.dims, t.dims, name);
    assert.ok(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `initializer ${name} bytes`);
  }
  assert.equal(b.nodes.length, a.nodes.length);
  a.nodes.forEach((n, i) => assert.deepEqual(b.nodes[i], n, `node ${i} (${n.opType} '${n.name}')`));
}

describe('ONNX protobuf I/O', () => {
  it('decode -> encode -> decode of the PyTorch fixture yields the same IR', () => {
    const a = decodeModel(fs.readFileSync(FIXTURE), FIXTURE);
    const b = decodeModel(encodeModel(a), 're-encoded');
    assertSameModel(a, b);
    // And the encoding is stable: encoding the re-decoded model gives the same bytes.
    assert.ok(Buffer.from(encodeModel(b)).equals(Buffer.from(encodeModel(a))));
  });

  it('ONNX Runtime gives bitwise identical outputs for the original and the re-encoded fixture', async () => {
    const original = fs.readFileSync(FIXTURE);
    const reencoded = encodeModel(decodeModel(original, FIXTURE));
    const r = random(7);
    const feeds = { x: randTensor([2, 1, 16, 16], 3), t: Tensor.int64([2], [Math.floor(r() * 1000), Math.floor(r() * 1000)]) };
    const outs: Tensor[] = [];
    for (const bytes of [new Uint8Array(original), reencoded]) {
      const s = await NodeSession.create(bytes, { threads: 1 });
      outs.push((await s.run(feeds)).out);
      await s.release();
    }
    assert.deepEqual(outs[0].dims, [2, 1, 16, 16]);
    assert.ok(outs[0].toNumbers().every(Number.isFinite));
    assert.ok(Buffer.from(outs[0].data.buffer).equals(Buffer.from(outs[1].data.buffer)), 'outputs differ');
  });

  it('every attribute type, metadata and value shapes survive encode -> decode', () => {
    const body = new Builder();
    const bx = body.input('bx', 'float32', ['N', 2]);
    body.output(body.neg(bx), 'by');
    const g = new Graph();
    g.name = 'attrs';
    g.inputs.push({ name: 'x', dtype: 'float32', shape: ['N', 3, '?x:2'] }, { name: 'u', dtype: 'int64' }, { name: 'e', dtype: 'float32', shape: [0, 3] });
    g.outputs.push({ name: 'y', dtype: 'float32', shape: ['N', 3, 4] });
    g.initializers.set('w', new Tensor('float16', [2], Uint16Array.from([0x3c00, 0x4000])));
    g.valueInfo.set('mid', { name: 'mid', dtype: 'float32', shape: [1, 'K'] });
    g.nodes.push({
      name: 'n0', opType: 'Custom', domain: 'test.domain', inputs: ['x', '', 'w'], outputs: ['y'], docString: 'a node',
      attrs: {
        f: { type: 'float', value: 0.25 },
        i: { type: 'int', value: -(2 ** 40) },
        s: { type: 'string', value: 'héllo' },
        t: { type: 'tensor', value: Tensor.int64([2], [2n ** 60n, -3n]) },
        g: { type: 'graph', value: body.graph },
        fs: { type: 'floats', value: [1.5, -2] },
        is: { type: 'ints', value: [0, -1, 2 ** 40] },
        ss: { type: 'strings', value: ['a', ''] },
        ts: { type: 'tensors', value: [Tensor.scalar(2), new Tensor('bool', [1], Uint8Array.from([1]))] },
        gs: { type: 'graphs', value: [body.graph] },
      },
    });
    const m = newModel(g, { 'onnx-diffusion': JSON.stringify({ recipe: { seed: 1 } }), other: 'x' });
    m.opsetImports.push({ domain: 'test.domain', version: 1 });
    assertSameModel(m, decodeModel(encodeModel(m), 'attrs.onnx'));
  });

  describe('bad files give one error naming the file and the problem', () => {
    const cases: [string, () => Uint8Array, RegExp][] = [
      ['an empty file', () => new Uint8Array(0), /^bad\.onnx: empty file/],
      ['random bytes', () => Uint8Array.from({ length: 4096 }, random(1)).map((v) => Math.floor(v * 256)), /^bad\.onnx: not a valid ONNX model/],
      ['the first half of the fixture', () => { const b = fs.readFileSync(FIXTURE); return b.subarray(0, b.length >> 1); }, /^bad\.onnx: not a valid ONNX model/],
    ];
    for (const [what, bytes, re] of cases) {
      it(what, () => assert.throws(() => decodeModel(bytes(), 'bad.onnx'), (e: Error) => e.name === 'DiffusionError' && re.test(e.message) && !e.message.includes('\n')));
    }
    it('a graph using an undefined value names the node and the value', () => {
      assert.throws(() => decodeModel(undefinedValueModelBytes(), 'bad.onnx'), { name: 'DiffusionError', message: /^bad\.onnx: \w+ node '.*' uses undefined value 'no\.such\.value'$/ });
    });
    it('an initializer whose dims need more than 2^31 elements', () => {
      assert.throws(() => decodeModel(hugeModelBytes(), 'huge.onnx'), { name: 'DiffusionError', message: /^huge\.onnx: tensor 'huge': dims \[65536,65536\] need 4294967296 elements, more than 2\^31$/ });
    });
  });
});
