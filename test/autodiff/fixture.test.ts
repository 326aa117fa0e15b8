import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/core/rng';
import { Builder } from '../../src/onnx/builder';
import { decodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { fixture } from '../helpers/paths';
import { checkBuilt } from './fd';

const FIXTURE = fixture('torch-unet-16px.onnx');

describe('autodiff over a PyTorch-exported UNet (torch-unet-16px.onnx)', () => {
  it('gradients of mean((out - target)^2) wrt every float initializer match finite differences', async function () {
    this.timeout(300000);
    const model = decodeModel(readFileSync(FIXTURE));
    const b = new Builder(model.graph);
    // Every float initializer, including GroupNorm affine tensors shared through Identity aliases.
    const wrt = [...model.graph.initializers].filter(([, t]) => t.dtype === 'float32').map(([name]) => name);
    assert.ok(wrt.length > 50, `expected the UNet's parameters, found ${wrt.length} float initializers`);
    const target = b.input('target', 'float32', ['N', 1, 16, 16]);
    const diff = b.sub(b.value('out'), target);
    const loss = b.op('ReduceMean', [b.mul(diff, diff)], { keepdims: 0 });
    const rng = new Rng(7);
    const feeds = {
      x: Tensor.float32([2, 1, 16, 16], rng.normalArray(512)),
      t: Tensor.int64([2], [17, 640]),
      target: Tensor.float32([2, 1, 16, 16], rng.normalArray(512)),
    };
    // A purely random direction is not enough here: the per-layer terms of <g, v> (each O(1), and
    // each within 0.1% of finite differences when checked layer by layer) cancel to ~0.04, below
    // what float32 differences of an O(1) loss resolve to 1%. So the direction is random plus the
    // normalised gradient, which keeps <g, v> ~ |g| |v| ~ 600. |v| ~ 750 over ~1e5 weights, so the
    // step must be small (h = 1e-5: measured 0.02% off, vs 2% at 1e-4 and 8% at 1e-3 from the
    // h^2 |f'''| term); eps |f| / h ~ 1e-2 is still 1e-5 of the derivative.
    const { lhs } = await checkBuilt(b, loss, feeds, wrt, rng, { h: 1e-5, tol: 1e-2, alongGradient: true });
    assert.ok(Math.abs(lhs) > 1e-3, 'the directional derivative should not vanish');
  });
});
