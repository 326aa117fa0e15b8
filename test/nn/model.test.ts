import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { buildModel, countFlops, countParams } from '../../src/nn/model';
import { loadRecipe } from '../../src/nn/recipe-file';
import { NodeSession } from '../../src/runtime/node';
import { feedsFor, GRAPHS } from './helpers';

const tiny = () => loadRecipe(path.join(GRAPHS, 'unet-tiny.json'));

// hand count of the UNet's layers (PyTorch conventions: conv/linear with bias, GroupNorm affine)
const conv = (i: number, o: number, k: number) => o * i * k * k + o;
const lin = (i: number, o: number) => i * o + o;
const gn = (c: number) => 2 * c;
const res = (i: number, o: number, temb: number) => gn(i) + conv(i, o, 3) + lin(temb, o) + gn(o) + conv(o, o, 3) + (i === o ? 0 : conv(i, o, 1));
const attn = (c: number) => gn(c) + conv(c, 3 * c, 1) + conv(c, c, 1);

describe('buildModel', () => {
  it('unet-tiny has exactly the hand-counted number of parameters', () => {
    // base 16, mults [1, 1], 1 res block, attention at 8 (level 1), 1 input channel, temb 64
    const e = 64;
    const expected =
      lin(16, e) + lin(e, e) + // temb.lin1, temb.lin2
      conv(1, 16, 3) + // conv_in
      res(16, 16, e) + conv(16, 16, 3) + // down.0: res.0, downsample
      res(16, 16, e) + attn(16) + // down.1
      res(16, 16, e) + attn(16) + res(16, 16, e) + // mid
      2 * (res(32, 16, e) + attn(16)) + conv(16, 16, 3) + // up.1: res.0-1 on [h, skip], attn.0-1, upsample
      2 * res(32, 16, e) + // up.0
      gn(16) + conv(16, 1, 3); // norm_out, conv_out
    assert.equal(expected, 72113);
    assert.equal(countParams(buildModel(tiny())), expected);
  });

  it('class-conditional model adds a (classes + 1) x 4 base embedding table', () => {
    const r = tiny();
    const plain = countParams(buildModel(r));
    r.conditioning = { classes: 10 };
    const m = buildModel(r);
    assert.equal(countParams(m) - plain, 11 * 64);
    assert.deepEqual(m.graph.initializers.get('class_emb.weight')?.dims, [11, 64]);
  });

  it('parameter names are hierarchical and stable', () => {
    const names = [...buildModel(tiny()).graph.initializers.keys()];
    for (const n of ['temb.lin1.weight', 'temb.lin2.bias', 'conv_in.weight', 'down.0.res.0.conv1.weight', 'down.0.res.0.temb_proj.weight', 'down.0.downsample.weight', 'down.1.attn.0.qkv.weight', 'mid.res.0.norm1.weight', 'mid.attn.qkv.weight', 'mid.attn.proj.bias', 'mid.res.1.conv2.bias', 'up.1.res.1.skip.weight', 'up.1.upsample.weight', 'up.0.res.1.norm2.bias', 'norm_out.weight', 'conv_out.weight']) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    assert.ok(names.every((n) => /^[a-z_]+(\.[a-z_0-9]+)*$/.test(n)), names.find((n) => !/^[a-z_]+(\.[a-z_0-9]+)*$/.test(n)));
  });

  it('every float initializer is a parameter and the graph is opset 17, default domain only', () => {
    const m = buildModel(tiny());
    assert.deepEqual(m.opsetImports, [{ domain: '', version: 17 }]);
    assert.equal(m.irVersion, 8);
    assert.ok(m.graph.nodes.every((n) => n.domain === ''));
    for (const [name, t] of m.graph.initializers) if (t.dtype === 'float32') assert.match(name, /\.(weight|bias)$/);
  });

  it('the same seed gives the same weights; training graphs add Dropout, sampling graphs have none', () => {
    const r = tiny();
    r.unet.dropout = 0.1;
    const a = buildModel(r);
    const b = buildModel(r);
    assert.deepEqual(a.graph.initializers.get('mid.attn.qkv.weight')?.data, b.graph.initializers.get('mid.attn.qkv.weight')?.data);
    assert.notDeepEqual(buildModel(r, { seed: 5 }).graph.initializers.get('conv_in.weight')?.data, a.graph.initializers.get('conv_in.weight')?.data);
    assert.equal(a.graph.nodes.filter((n) => n.opType === 'Dropout').length, 0);
    const t = buildModel(r, { training: true });
    assert.equal(t.graph.nodes.filter((n) => n.opType === 'Dropout').length, 1 + 1 + 2 + 2 + 2); // res blocks: down 2, mid 2, up 4
    assert.equal(countParams(t), countParams(a));
  });

  it('a training graph (with Dropout) loads and runs in ORT', async () => {
    const r = tiny();
    r.unet.dropout = 0.5;
    const s = await NodeSession.create(buildModel(r, { training: true }));
    const { out } = await s.run(feedsFor(r, 2));
    assert.deepEqual(out.dims, [2, 1, 16, 16]);
    assert.ok((out.data as Float32Array).every(Number.isFinite));
    await s.release();
  });

  it('rejects an image size the levels cannot halve', () => {
    const r = tiny();
    r.image.size = 15;
    assert.throws(() => buildModel(r), /15 is not divisible by 2\^\(2-1\)/);
  });
});

describe('countFlops', () => {
  it('counts 2 x MACs of Conv, MatMul and Gemm with N = batch', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', ['N', 4, 8, 8]);
    const y = b.conv(x, b.param('w', [6, 4, 3, 3], 'zeros'), null, { pads: [1, 1, 1, 1] }); // [N,6,8,8]
    const z = b.matmul(b.reshape(y, [0, 6, 64]), b.param('m', [64, 5], 'zeros')); // [N,6,5]
    const g = b.gemm(b.reshape(z, [-1, 30]), b.param('g', [7, 30], 'zeros'), null, { transB: true }); // [N,7]
    b.output(g, 'out');
    const perImage = 2 * (6 * 64 * 4 * 9 + 6 * 5 * 64 + 7 * 30);
    assert.equal(countFlops(newModel(b.graph)), perImage);
    assert.equal(countFlops(b.graph, 3), 3 * perImage);
  });

  it('UNet FLOPs scale linearly with the batch', () => {
    const m = buildModel(tiny());
    assert.equal(countFlops(m, 4), 4 * countFlops(m, 1));
  });
});
