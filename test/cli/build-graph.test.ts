import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel } from '../../src/onnx/proto';
import { NodeSession } from '../../src/runtime/node';
import { Tensor } from '../../src/onnx/tensor';
import { fixture } from '../helpers/paths';
import { cli } from '../helpers/cli';

describe('onnx-diffusion build-graph', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'build-graph-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes model.onnx and train-step.onnx for unet-tiny; both load in ORT with the contract inputs', async () => {
    const r = cli('build-graph', '--recipe', 'graphs/unet-tiny.json', '--out', tmp, '--train', '--batch', '4');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /72,113 parameters/);
    const step = decodeModel(readFileSync(join(tmp, 'train-step.onnx')), 'step');
    assert.deepEqual(step.graph.inputs.map((i) => i.name).sort(), ['ema', 'ema_decay', 'lr', 'm', 'max_norm', 'noise', 'params', 'step', 't', 'v', 'x0'].sort());
    assert.deepEqual(step.graph.outputs.map((o) => o.name), ['params_out', 'm_out', 'v_out', 'ema_out', 'loss', 'grad_norm']);
    assert.ok(step.opsetImports.every((o) => o.domain === '' && o.version === 17) && step.irVersion === 8);
    await (await NodeSession.create(readFileSync(join(tmp, 'train-step.onnx')))).release();
    const m = await NodeSession.create(readFileSync(join(tmp, 'model.onnx')));
    const y = await m.run({ x: Tensor.float32([2, 1, 16, 16]), t: Tensor.int64([2], [1, 2]) });
    assert.deepEqual(y.out.dims, [2, 1, 16, 16]);
  });

  it('--optimizer none writes the gradient graph: weights stay initializers, outputs loss and grad/<name>', () => {
    const out = join(tmp, 'grad');
    const r = cli('build-graph', '--recipe', 'graphs/unet-tiny.json', '--out', out, '--optimizer', 'none', '--batch', '2');
    assert.equal(r.code, 0, r.stderr);
    const g = decodeModel(readFileSync(join(out, 'grad.onnx')), 'grad');
    assert.deepEqual(g.graph.inputs.map((i) => i.name).sort(), ['noise', 't', 'x0']);
    const names = g.graph.outputs.map((o) => o.name);
    assert.equal(names[0], 'loss');
    assert.ok(names.includes('grad/conv_in.weight'), names.slice(0, 5).join(','));
    assert.equal(names.length - 1, [...g.graph.initializers.values()].filter((t) => t.dtype === 'float32').length - 2);
  });

  it('--from builds the step graph of the PyTorch fixture with its --config', () => {
    const out = join(tmp, 'fx');
    const r = cli('build-graph', '--from', fixture('torch-unet-16px.onnx'), '--config', fixture('torch-unet-16px.json'), '--out', out, '--batch', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /108 trainable tensors \(266,033 values\)/);
  });

  it('fails with one line for a model without metadata and no --config, and without --recipe/--from', () => {
    const a = cli('build-graph', '--from', fixture('torch-unet-16px.onnx'), '--out', join(tmp, 'x'));
    assert.equal(a.code, 1);
    assert.match(a.stderr, /torch-unet-16px.onnx: the model carries no onnx-diffusion metadata; pass --config \(a JSON file\) or use --recipe/);
    const b = cli('build-graph', '--out', join(tmp, 'y'));
    assert.match(b.stderr, /give --recipe FILE or --from model.onnx/);
  });
});
