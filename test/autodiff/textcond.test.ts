import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/core/rng';
import { Builder } from '../../src/onnx/builder';
import { decodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { fixture } from '../helpers/paths';
import { checkBuilt } from './fd';

describe('autodiff over a PyTorch-exported text-conditioned UNet (torch-textcond-16px.onnx)', () => {
  it('gradients of mean((out - target)^2) wrt every float initializer match finite differences', async function () {
    this.timeout(300000);
    const model = decodeModel(readFileSync(fixture('torch-textcond-16px.onnx')));
    const b = new Builder(model.graph);
    // Cross-attention to the tokens, LayerNorm, GEGLU with tanh-GELU, GroupNorm as InstanceNorm.
    const wrt = [...model.graph.initializers].filter(([, t]) => t.dtype === 'float32').map(([name]) => name);
    assert.ok(wrt.length > 50, `expected the UNet's parameters, found ${wrt.length} float initializers`);
    const target = b.input('target', 'float32', ['N', 3, 16, 16]);
    const diff = b.sub(b.value('out'), target);
    const loss = b.op('ReduceMean', [b.mul(diff, diff)], { keepdims: 0 });
    const rng = new Rng(5);
    const feeds = {
      x: Tensor.float32([2, 3, 16, 16], rng.normalArray(2 * 768)),
      t: Tensor.int64([2], [40, 700]),
      encoder_hidden_states: Tensor.float32([2, 4, 16], rng.normalArray(128)),
      target: Tensor.float32([2, 3, 16, 16], rng.normalArray(2 * 768)),
    };
    // As for torch-unet-16px (fixture.test.ts): random plus normalised-gradient direction, h = 1e-5.
    const { lhs } = await checkBuilt(b, loss, feeds, wrt, rng, { h: 1e-5, tol: 1e-2, alongGradient: true });
    assert.ok(Math.abs(lhs) > 1e-3, 'the directional derivative should not vanish');
  });

  it('the gradient wrt the context tokens matches finite differences (cross-attention k and v paths)', async function () {
    this.timeout(300000);
    const model = decodeModel(readFileSync(fixture('torch-textcond-16px.onnx')));
    const b = new Builder(model.graph);
    const rng = new Rng(9);
    const feeds = {
      x: Tensor.float32([2, 3, 16, 16], rng.normalArray(2 * 768)),
      t: Tensor.int64([2], [10, 500]),
      encoder_hidden_states: Tensor.float32([2, 4, 16], rng.normalArray(128)),
    };
    const { lhs } = await checkBuilt(b, b.value('out'), feeds, ['encoder_hidden_states'], rng, { h: 1e-2, tol: 1e-2 });
    assert.ok(Math.abs(lhs) > 1e-3, 'the directional derivative should not vanish');
  });
});
