import assert from 'node:assert/strict';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { attentionBlock } from '../../src/nn/attention';
import { sinusoidalEmbedding } from '../../src/nn/embedding';
import { groupNorm, GroupNormFormulation } from '../../src/nn/norm';
import { dropout } from '../../src/nn/activations';
import { randomArray } from './helpers';

/** Replaces every float initializer by seeded random values (so affine params are not 1/0). */
function randomizeParams(b: Builder, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let k = seed;
  for (const [name, t] of b.graph.initializers) {
    if (t.dtype !== 'float32') continue;
    const data = randomArray(t.size, k++);
    b.graph.initializers.set(name, new Tensor('float32', t.dims, data));
    out.set(name, data);
  }
  return out;
}

async function run(b: Builder, feeds: Record<string, Tensor>): Promise<Float32Array> {
  const s = await NodeSession.create(newModel(b.graph));
  try {
    const res = await s.run(feeds);
    return res[b.graph.outputs[0].name].data as Float32Array;
  } finally {
    await s.release();
  }
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= atol)) assert.fail(`element ${i}: got ${got[i]}, want ${want[i]} (atol ${atol})`);
  }
}

/** GroupNorm in plain JS over x [n, c, l] (float64 arithmetic). */
function groupNormRef(x: ArrayLike<number>, n: number, c: number, l: number, groups: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps = 1e-5): Float64Array {
  const out = new Float64Array(n * c * l);
  const cg = c / groups;
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      const start = (i * c + g * cg) * l;
      const count = cg * l;
      let mean = 0;
      for (let k = 0; k < count; k++) mean += x[start + k];
      mean /= count;
      let v = 0;
      for (let k = 0; k < count; k++) v += (x[start + k] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / count + eps);
      for (let k = 0; k < count; k++) {
        const ch = g * cg + Math.floor(k / l);
        out[start + k] = (x[start + k] - mean) * inv * gamma[ch] + beta[ch];
      }
    }
  }
  return out;
}

describe('nn modules match independent references', () => {
  for (const formulation of ['instancenorm', 'explicit', 'layernorm'] as GroupNormFormulation[]) {
    it(`GroupNorm (${formulation}) matches a JS reference within 1e-5`, async () => {
      const [n, c, h, w, g] = [2, 6, 5, 3, 3];
      const b = new Builder(undefined, { seed: 1 });
      const x = b.input('x', 'float32', ['N', c, h, w]);
      b.output(b.scope('gn', () => groupNorm(b, x, g, { formulation })), 'y');
      const params = randomizeParams(b, 11);
      const xs = randomArray(n * c * h * w, 3).map((v, i) => v * 3 + (i % 7));
      const got = await run(b, { x: new Tensor('float32', [n, c, h, w], xs) });
      assertClose(got, groupNormRef(xs, n, c, h * w, g, params.get('gn.weight') as Float32Array, params.get('gn.bias') as Float32Array), 1e-5);
    });
  }

  it('attention block matches a JS reference (2 heads, 3x3 positions)', async () => {
    const [n, c, h, w, heads, groups] = [2, 4, 3, 3, 2, 2];
    const hw = h * w;
    const d = c / heads;
    const b = new Builder(undefined, { seed: 2 });
    const x = b.input('x', 'float32', ['N', c, h, w]);
    b.output(b.scope('attn', () => attentionBlock(b, x, heads, groups)), 'y');
    const p = randomizeParams(b, 21);
    const xs = randomArray(n * c * hw, 5);
    const got = await run(b, { x: new Tensor('float32', [n, c, h, w], xs) });

    const normed = groupNormRef(xs, n, c, hw, groups, p.get('attn.norm.weight') as Float32Array, p.get('attn.norm.bias') as Float32Array);
    const conv1x1 = (inp: ArrayLike<number>, wt: ArrayLike<number>, bias: ArrayLike<number>, cin: number, cout: number): Float64Array => {
      const o = new Float64Array(n * cout * hw);
      for (let i = 0; i < n; i++) for (let co = 0; co < cout; co++) for (let s = 0; s < hw; s++) {
        let acc = bias[co];
        for (let ci = 0; ci < cin; ci++) acc += wt[co * cin + ci] * inp[(i * cin + ci) * hw + s];
        o[(i * cout + co) * hw + s] = acc;
      }
      return o;
    };
    const qkv = conv1x1(normed, p.get('attn.qkv.weight') as Float32Array, p.get('attn.qkv.bias') as Float32Array, c, 3 * c);
    const merged = new Float64Array(n * c * hw);
    for (let i = 0; i < n; i++) for (let hd = 0; hd < heads; hd++) {
      // channel of part (0 q, 1 k, 2 v), head hd, feature j at position s
      const at = (part: number, j: number, s: number) => qkv[(i * 3 * c + part * c + hd * d + j) * hw + s];
      for (let s = 0; s < hw; s++) {
        const scores = Array.from({ length: hw }, (_, u) => {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += at(0, j, s) * at(1, j, u);
          return dot / Math.sqrt(d);
        });
        const m = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - m));
        const z = e.reduce((a, v) => a + v, 0);
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let u = 0; u < hw; u++) acc += (e[u] / z) * at(2, j, u);
          merged[(i * c + hd * d + j) * hw + s] = acc;
        }
      }
    }
    const proj = conv1x1(merged, p.get('attn.proj.weight') as Float32Array, p.get('attn.proj.bias') as Float32Array, c, c);
    assertClose(got, proj.map((v, i) => v + xs[i]), 1e-5);
  });

  it('timestep embedding equals the closed form [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(half-1))', async () => {
    const dim = 8;
    const half = dim / 2;
    const ts = [0, 1, 37, 999];
    const b = new Builder();
    b.output(sinusoidalEmbedding(b, b.input('t', 'int64', ['N']), dim), 'e');
    const got = await run(b, { t: Tensor.int64([ts.length], ts) });
    const want = ts.flatMap((t) => {
      const f = Array.from({ length: half }, (_, i) => 10000 ** (-i / (half - 1)));
      return [...f.map((fi) => Math.sin(t * fi)), ...f.map((fi) => Math.cos(t * fi))];
    });
    // float32 argument t * f for t ~ 1000 carries ~1e-4 absolute error into sin/cos
    assertClose(got, want, 2e-4);
  });

  it('dropout is emitted only for training graphs', () => {
    const b = new Builder();
    const x = b.input('x', 'float32', ['N', 4]);
    assert.equal(dropout(b, x, 0.1, false), x);
    assert.equal(dropout(b, x, 0, true), x);
    dropout(b, x, 0.1, true);
    assert.equal(b.graph.nodes.filter((nd) => nd.opType === 'Dropout').length, 1);
  });
});
