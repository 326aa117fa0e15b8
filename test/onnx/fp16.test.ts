import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel, loadRecipe } from '../../src/nn';
import { fullPrecisionWeights, halfPrecisionWeights, HALF_SUFFIX, WEIGHTS_DTYPE_KEY } from '../../src/onnx/fp16';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { Tensor, halfToFloat } from '../../src/onnx/tensor';
import { setupModel } from '../../src/train/setup';
import { trainableLayout } from '../../src/train/params';
import { resolveModelName } from '../../src/core/node/package-files';
import { cliInProcess } from '../helpers/cli';
import { repoRoot } from '../helpers/paths';
import { Rng } from '../../src/core/rng';

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await s.run(feeds);
    return out[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('onnx/fp16: weights stored as float16, computed in float32', function () {
  this.timeout(60_000);
  const model = buildModel(loadRecipe(path.join(repoRoot(), 'graphs', 'unet-tiny.json')));
  const { model: half, report } = halfPrecisionWeights(model);

  it('stores every large float32 initializer as float16 behind a Cast, small ones stay float32', () => {
    const big = [...model.graph.initializers].filter(([, t]) => t.dtype === 'float32' && t.size >= 16);
    assert.ok(big.length > 10);
    assert.equal(report.converted, big.length);
    for (const [name, t] of big) {
      const h = half.graph.initializers.get(name + HALF_SUFFIX);
      assert.equal(h?.dtype, 'float16', name);
      assert.deepEqual(h?.dims, t.dims);
      assert.ok(!half.graph.initializers.has(name), `${name} is produced by its Cast`);
      const cast = half.graph.nodes.find((n) => n.outputs[0] === name);
      assert.equal(cast?.opType, 'Cast');
    }
    for (const [name, t] of model.graph.initializers) if (t.size < 16 || t.dtype !== 'float32') assert.equal(half.graph.initializers.get(name), t, name);
    assert.equal(half.metadata[WEIGHTS_DTYPE_KEY], 'float16');
    // Two bytes saved per stored weight, less a Cast node (its name, input and output: about 160 bytes here) per converted tensor.
    const elements = big.reduce((s, [, t]) => s + t.size, 0);
    const saved = encodeModel(model).length - encodeModel(half).length;
    assert.ok(saved <= 2 * elements && saved > 2 * elements - 250 * big.length, `saved ${saved} bytes for ${elements} weights in ${big.length} tensors`);
  });

  it('round-trips: float32 weights come back equal to their float16 rounding (relative error <= 2^-11)', () => {
    const back = fullPrecisionWeights(decodeModel(encodeModel(half), 'half.onnx'));
    assert.equal(back.metadata[WEIGHTS_DTYPE_KEY], undefined);
    assert.ok(!back.graph.nodes.some((n) => n.opType === 'Cast' && n.inputs[0].endsWith(HALF_SUFFIX)));
    assert.deepEqual([...back.graph.initializers.keys()].sort(), [...model.graph.initializers.keys()].sort());
    for (const [name, t] of model.graph.initializers) {
      const b = back.graph.initializers.get(name) as Tensor;
      assert.equal(b.dtype, t.dtype, name);
      const a = t.toNumbers();
      const r = b.toNumbers();
      for (let i = 0; i < a.length; i++) {
        const tol = Math.max(Math.abs(a[i]) * 2 ** -11, 2 ** -24);
        if (Math.abs(a[i] - r[i]) > tol) assert.fail(`${name}[${i}]: ${r[i]} vs ${a[i]}`);
      }
    }
    // An already-float32 model is returned as it is.
    assert.equal(fullPrecisionWeights(model), model);
  });

  it('ONNX Runtime runs the half-stored file with float32 inputs and outputs, close to the float32 model but not equal', async () => {
    const rng = new Rng(7);
    const x = new ort.Tensor('float32', Float32Array.from(rng.normalArray(2 * 1 * 16 * 16)), [2, 1, 16, 16]);
    const t = new ort.Tensor('int64', BigInt64Array.from([10n, 700n]), [2]);
    const full = await run(encodeModel(model), { x, t });
    const halfOut = await run(encodeModel(half), { x, t });
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < full.length; i++) {
      worst = Math.max(worst, Math.abs(full[i] - halfOut[i]));
      scale = Math.max(scale, Math.abs(full[i]));
    }
    assert.ok(worst > 0, 'the weights were rounded, so the outputs differ');
    assert.ok(worst < 5e-3 * scale, `max |diff| ${worst} vs output scale ${scale}`);
  });

  it('refuses a weight beyond float16 range instead of storing infinity', () => {
    const m = fullPrecisionWeights(model);
    const g = m.graph.clone();
    const [name, t] = [...g.initializers].find(([, v]) => v.dtype === 'float32' && v.size >= 16) as [string, Tensor];
    const data = Float32Array.from(t.data as Float32Array);
    data[3] = 70000;
    g.initializers.set(name, new Tensor('float32', [...t.dims], data));
    assert.throws(() => halfPrecisionWeights({ ...m, graph: g }), new RegExp(`initializer ${name}: weight 70000 at index 3 exceeds float16's largest value 65504`));
  });

  it('halfToFloat inverts the stored bits (spot check against closed forms)', () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x7bff), 65504);
  });

  describe('export --fp16, shipped names and fine-tuning a half-stored file', () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp16-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('export --fp16 writes a half-size file that trains as float32 (same trainable layout as the original)', async () => {
      const src = path.join(dir, 'model.onnx');
      fs.writeFileSync(src, encodeModel(model));
      const out = path.join(dir, 'model.fp16.onnx');
      const r = await cliInProcess(['export', '--model', src, '--fp16', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /wrote .*model\.fp16\.onnx/);
      const written = decodeModel(fs.readFileSync(out), out);
      assert.equal(written.metadata[WEIGHTS_DTYPE_KEY], 'float16');
      assert.ok(fs.statSync(out).size < 0.7 * fs.statSync(src).size);
      const a = setupModel({ init: src });
      const b = setupModel({ init: out });
      assert.deepEqual(trainableLayout(b.trainModel.graph).slots.map((s) => [s.name, s.size]), trainableLayout(a.trainModel.graph).slots.map((s) => [s.name, s.size]));
    });

    it('export without a mode, or --lora without --merge, is refused in one line', async () => {
      const src = path.join(dir, 'model.onnx');
      fs.writeFileSync(src, encodeModel(model));
      const none = await cliInProcess(['export', '--model', src, '--out', path.join(dir, 'x.onnx')]);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /export needs --merge .*--fp16/);
      const lora = await cliInProcess(['export', '--model', src, '--fp16', '--lora', 'a.safetensors', '--out', path.join(dir, 'y.onnx')]);
      assert.notEqual(lora.code, 0);
      assert.match(lora.stderr, /--lora.*only used with --merge/);
    });

    it('resolves NAME.fp16 to a shipped model.fp16.onnx; an unknown name lists the shipped ones', () => {
      const root = dir;
      fs.mkdirSync(path.join(root, 'models', 'm'), { recursive: true });
      fs.writeFileSync(path.join(root, 'models', 'm', 'model.onnx'), '');
      assert.throws(() => resolveModelName('m.fp16', root), /^FileFormatError: m\.fp16: no such file, nor a shipped model of that name \(m\)$/);
      fs.writeFileSync(path.join(root, 'models', 'm', 'model.fp16.onnx'), '');
      assert.equal(resolveModelName('m.fp16', root), path.join(root, 'models', 'm', 'model.fp16.onnx'));
      assert.equal(resolveModelName('m', root), path.join(root, 'models', 'm', 'model.onnx'));
    });
  });
});
