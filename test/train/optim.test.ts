import { strict as assert } from 'node:assert';
import { Rng } from '../../src/core/rng';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { adamw, clipByGlobalNorm, DEFAULT_ADAMW, ema, globalNorm } from '../../src/train/optim';
import { emaDecayAt, learningRate } from '../../src/train/lr';
import { resolveLrSchedule } from '../../src/train/hyper';

/** torch.optim.AdamW + clip_grad_norm_ + EMA written out in plain JavaScript (float64). */
function reference(p: number[], grads: number[][], lr: number, wd: number, maxNorm: number, decay: number) {
  const { beta1: b1, beta2: b2, eps } = DEFAULT_ADAMW;
  let m = p.map(() => 0), v = p.map(() => 0), e = [...p];
  for (let k = 1; k <= grads.length; k++) {
    const g0 = grads[k - 1];
    const norm = Math.sqrt(g0.reduce((s, x) => s + x * x, 0));
    const f = Math.min(1, maxNorm / (norm + 1e-6));
    const g = g0.map((x) => x * f);
    p = p.map((x) => x * (1 - lr * wd));
    m = m.map((x, i) => b1 * x + (1 - b1) * g[i]);
    v = v.map((x, i) => b2 * x + (1 - b2) * g[i] * g[i]);
    p = p.map((x, i) => x - (lr * m[i]) / (1 - b1 ** k) / (Math.sqrt(v[i] / (1 - b2 ** k)) + eps));
    e = e.map((x, i) => decay * x + (1 - decay) * p[i]);
  }
  return { p, m, v, e };
}

describe('optimizer graphs', () => {
  it('AdamW + global-norm clipping + EMA match a plain JavaScript AdamW over 5 steps (max abs diff < 1e-6)', async () => {
    const n = 37;
    const rng = new Rng(3);
    const b = new Builder();
    const [p, g, m, v, e] = ['p', 'g', 'm', 'v', 'e'].map((k) => b.input(k, 'float32', [n]));
    const [lr, step, decay, maxNorm] = ['lr', 'step', 'decay', 'max_norm'].map((k) => b.input(k, 'float32', []));
    const norm = globalNorm(b, [g]);
    const [gc] = clipByGlobalNorm(b, [g], norm, maxNorm);
    const wd = 0.01;
    const u = adamw(b, p, gc, m, v, lr, step, { ...DEFAULT_ADAMW, weightDecay: wd });
    b.output(u.p, 'p_out');
    b.output(u.m, 'm_out');
    b.output(u.v, 'v_out');
    b.output(ema(b, e, u.p, decay), 'e_out');
    const s = await NodeSession.create(newModel(b.graph), { threads: 1 });
    const p0 = Array.from(rng.normalArray(n));
    const grads = Array.from({ length: 5 }, () => Array.from(rng.normalArray(n)).map((x) => x * 0.5));
    const ref = reference(p0, grads, 1e-2, wd, 1.5, 0.9);
    let st = { p: Float32Array.from(p0), m: new Float32Array(n), v: new Float32Array(n), e: Float32Array.from(p0) };
    for (let k = 1; k <= 5; k++) {
      const r = await s.run({
        p: Tensor.float32([n], st.p), g: Tensor.float32([n], grads[k - 1]), m: Tensor.float32([n], st.m), v: Tensor.float32([n], st.v), e: Tensor.float32([n], st.e),
        lr: Tensor.scalar(1e-2), step: Tensor.scalar(k), decay: Tensor.scalar(0.9), max_norm: Tensor.scalar(1.5),
      });
      st = { p: r.p_out.data as Float32Array, m: r.m_out.data as Float32Array, v: r.v_out.data as Float32Array, e: r.e_out.data as Float32Array };
    }
    const maxDiff = (a: Float32Array, c: number[]) => Math.max(...c.map((x, i) => Math.abs(x - a[i])));
    assert.ok(maxDiff(st.p, ref.p) < 1e-6, `params differ by ${maxDiff(st.p, ref.p)}`);
    assert.ok(maxDiff(st.m, ref.m) < 1e-6, `m differs by ${maxDiff(st.m, ref.m)}`);
    assert.ok(maxDiff(st.v, ref.v) < 1e-6, `v differs by ${maxDiff(st.v, ref.v)}`);
    assert.ok(maxDiff(st.e, ref.e) < 1e-6, `ema differs by ${maxDiff(st.e, ref.e)}`);
  });

  it('learning rate warms up linearly, then decays by a cosine to 0', () => {
    assert.equal(learningRate(0, 1, 10, 110, 'cosine'), 0.1);
    assert.equal(learningRate(9, 1, 10, 110, 'cosine'), 1);
    assert.ok(Math.abs(learningRate(60, 1, 10, 110, 'cosine') - 0.5) < 1e-12);
    assert.ok(learningRate(110, 1, 10, 110, 'cosine') < 1e-12);
    assert.equal(learningRate(80, 1, 10, 110, 'constant'), 1);
    assert.equal(emaDecayAt(0, 0.999), 0.1);
    assert.equal(emaDecayAt(1e6, 0.999), 0.999);
  });

  it('the EMA is off by default under the cosine decay and 0.999 at a constant lr; an explicit decay wins', () => {
    assert.equal(resolveLrSchedule({}, 2000).emaDecay, 0);
    assert.equal(resolveLrSchedule({ lrDecay: 'constant' }, 2000).emaDecay, 0.999);
    assert.equal(resolveLrSchedule({ emaDecay: 0.99 }, 2000).emaDecay, 0.99);
    assert.equal(resolveLrSchedule({ lrDecay: 'constant', emaDecay: 0 }, 2000).emaDecay, 0);
  });
});
