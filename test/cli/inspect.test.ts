import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { encodeModel } from '../../src/onnx/proto';
import { hugeModelBytes, undefinedValueModelBytes } from '../helpers/bad-models';
import { random } from '../helpers/ort';
import { fixture } from '../helpers/paths';
import { cli } from '../helpers/cli';

const FIXTURE = fixture('torch-unet-16px.onnx');

/** Op histogram and float parameter count straight from protobufjs, without src/onnx. */
function independentCounts(file: string): { ops: Map<string, number>; initializers: number; parameters: number } {
  const m = onnx.ModelProto.decode(fs.readFileSync(file));
  const ops = new Map<string, number>();
  for (const n of m.graph?.node ?? []) ops.set(n.opType!, (ops.get(n.opType!) ?? 0) + 1);
  let parameters = 0;
  for (const t of m.graph?.initializer ?? []) {
    if (t.dataType === onnx.TensorProto.DataType.FLOAT) parameters += (t.dims ?? []).reduce<number>((p, d) => p * Number(d), 1);
  }
  return { ops, initializers: (m.graph?.initializer ?? []).length, parameters };
}

describe('onnx-diffusion inspect', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inspect-test-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('summarises the PyTorch fixture: inputs, outputs, ops, parameters, opset, producer', () => {
    const r = cli('inspect', FIXTURE);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = r.stdout;
    assert.match(out, /^ {2}x: float32 \[N, 1, 16, 16\]$/m);
    assert.match(out, /^ {2}t: int64 \[N\]$/m);
    assert.match(out, /^ {2}out: float32 \[N, 1, 16, 16\]$/m);
    assert.match(out, /^parameters: 266,033 in 108 initializers \(1,064,132 bytes\)$/m);
    assert.match(out, /IR version 8; opsets ai\.onnx 17/);
    assert.match(out, /producer: pytorch 1\.13\.0/);
    for (const [op, n] of [['Constant', 117], ['Conv', 37], ['Reshape', 50]] as const) {
      assert.match(out, new RegExp(`^ {2}${op} +${n}$`, 'm'), `${op} ${n}`);
    }
  });

  it('--json prints one object whose counts match an independent reading of the file', () => {
    const r = cli('inspect', FIXTURE, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    const ref = independentCounts(FIXTURE);
    assert.equal(s.initializers.count, 108);
    assert.equal(s.initializers.count, ref.initializers);
    assert.equal(s.initializers.parameters, 266_033);
    assert.equal(s.initializers.parameters, ref.parameters);
    assert.equal(s.initializers.bytes, 266_033 * 4);
    assert.deepEqual(s.ops, Object.fromEntries(ref.ops));
    assert.equal(s.ops.Constant, 117);
    assert.equal(s.ops.Conv, 37);
    assert.equal(s.ops.Reshape, 50);
    const counts = Object.values(s.ops) as number[];
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a), 'ops sorted by count');
    assert.equal(s.nodes, [...ref.ops.values()].reduce((a, b) => a + b, 0));
    assert.deepEqual(s.inputs, [{ name: 'x', dtype: 'float32', shape: ['N', 1, 16, 16] }, { name: 't', dtype: 'int64', shape: ['N'] }]);
    assert.deepEqual(s.outputs, [{ name: 'out', dtype: 'float32', shape: ['N', 1, 16, 16] }]);
    assert.deepEqual(s.opsetImports, [{ domain: '', version: 17 }]);
    assert.equal(s.irVersion, 8);
    assert.deepEqual(s.producer, { name: 'pytorch', version: '1.13.0' });
    assert.equal(s.onnxDiffusion, null);
  });

  it('shows our metadata: recipe summary, parameter count and the pretty-printed JSON', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', ['N', 4]);
    const w = b.param('w', [4, 2], 'ones');
    b.output(b.matmul(x, w), 'out');
    const meta = {
      recipe: { image: { channels: 1, size: 8 }, unet: { base: 16, mults: [1, 2], resBlocks: 1 }, diffusion: { timesteps: 100, schedule: 'cosine', prediction: 'v' } },
      parameters: 8,
    };
    const file = path.join(tmp, 'ours.onnx');
    fs.writeFileSync(file, encodeModel(newModel(b.graph, { 'onnx-diffusion': JSON.stringify(meta), note: 'hi' })));
    const r = cli('inspect', file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /producer: onnx-diffusion 0\.1\.0/);
    assert.match(r.stdout, /recipe: image 1x8x8; unet base 16, mults \[1,2\], 1 res blocks; 100 steps cosine, predicts v/);
    assert.match(r.stdout, /^ {2}parameters: 8$/m);
    assert.match(r.stdout, /^ {4}"recipe": \{$/m);
    assert.match(r.stdout, /^ {2}note: hi$/m);
    const j = JSON.parse(cli('inspect', file, '--json').stdout);
    assert.deepEqual(j.onnxDiffusion, meta);
    assert.deepEqual(j.metadata, { note: 'hi' });
    assert.equal(j.initializers.parameters, 8);
  });

  describe('bad input: one line naming the file and the problem, exit code 1, no stack', () => {
    const cases: [string, (dir: string) => string, RegExp][] = [
      ['a missing file', (d) => path.join(d, 'missing.onnx'), /no such file/],
      ['a directory', (d) => d, /is a directory/],
      ['an empty file', (d) => write(d, 'empty.onnx', new Uint8Array(0)), /empty file/],
      ['random bytes', (d) => write(d, 'random.onnx', Uint8Array.from({ length: 4096 }, random(5)).map((v) => Math.floor(v * 256))), /not a valid ONNX model/],
      ['a truncated file', (d) => { const b = fs.readFileSync(FIXTURE); return write(d, 'half.onnx', b.subarray(0, b.length >> 1)); }, /not a valid ONNX model/],
      ['an undefined value', (d) => write(d, 'undef.onnx', undefinedValueModelBytes()), /node '.*' uses undefined value 'no\.such\.value'/],
      ['a tensor of more than 2^31 elements', (d) => write(d, 'huge.onnx', hugeModelBytes()), /tensor 'huge': dims \[65536,65536\] need 4294967296 elements, more than 2\^31/],
    ];
    for (const [what, make, problem] of cases) {
      it(what, () => {
        const file = make(tmp);
        for (const extra of [[], ['--json']]) {
          const r = cli('inspect', file, ...extra);
          assert.equal(r.code, 1, `exit code for ${what}`);
          assert.equal(r.stdout, '');
          const lines = r.stderr.trimEnd().split('\n');
          assert.equal(lines.length, 1, `one stderr line, got:\n${r.stderr}`);
          assert.ok(lines[0].startsWith(`error: ${file}: `), lines[0]);
          assert.match(lines[0], problem);
        }
      });
    }
    it('--verbose shows the stack', () => {
      const r = cli('inspect', path.join(tmp, 'missing.onnx'), '--verbose');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /missing\.onnx: no such file/);
      assert.match(r.stderr, /\n {4}at /);
    });
  });
});

function write(dir: string, name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}
