/**
 * GroupNorm formulations under ONNX Runtime CPU, forward and forward+backward, for the shape that
 * dominates a UNet step: x [64, 64, 32, 32], G = 8. Prints a table of ms per call.
 *
 *   node --import tsx tools/bench-groupnorm.ts [reps]
 *
 * Backward graphs are written the way the autodiff engine would emit them:
 *  - instancenorm: an InstanceNormalization rule, closed form, which must recompute the group
 *    statistics (opset 17 InstanceNormalization exposes neither mean nor variance);
 *  - explicit: the op-by-op chain rule through ReduceMean/Sub/Mul/ReduceMean/Add/Sqrt/Div;
 *  - layernorm: a LayerNormalization rule, closed form, reusing its Mean and InvStdDev outputs.
 */
import * as os from 'node:os';
import { groupStandardize, GroupNormFormulation } from '../src/nn/norm';
import { constant } from '../src/nn/constant';
import { Builder, Value } from '../src/onnx/builder';
import { newModel } from '../src/onnx/ir';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';

const [N, C, H, W, G] = [64, 64, 32, 32, 8];
const L = (C / G) * H * W;
const EPS = 1e-5;
const reps = Number(process.argv[2] ?? 15);
const THREADS = Math.min(2, os.availableParallelism()); // the 2-core laptop of docs/PERF-NOTES

type Variant = { name: string; build: (b: Builder) => void; backward: boolean };

function affine(b: Builder, xhat: Value): { y: Value; gamma: Value } {
  const gamma = b.param('gamma', [C], 'ones');
  const beta = b.param('beta', [C], 'zeros');
  return { y: b.add(b.mul(xhat, b.reshape(gamma, [C, 1, 1])), b.reshape(beta, [C, 1, 1])), gamma };
}

/** dgamma, dbeta and the gradient into the standardised value, [N, G, L]. */
function affineBackward(b: Builder, dy: Value, xhat: Value, gamma: Value): Value {
  b.output(b.reduceSum(b.mul(dy, xhat), [0, 2, 3], false), 'dgamma');
  b.output(b.reduceSum(dy, [0, 2, 3], false), 'dbeta');
  return b.reshape(b.mul(dy, b.reshape(gamma, [C, 1, 1])), [0, G, -1]);
}

/** dx = inv * (g - mean(g) - xh * mean(g * xh)), all [N, G, L] (inv [N, G, 1]). */
function closedForm(b: Builder, g: Value, xh: Value, inv: Value): Value {
  const centred = b.sub(b.sub(g, b.reduceMean(g, [-1])), b.mul(xh, b.reduceMean(b.mul(g, xh), [-1])));
  return b.reshape(b.mul(inv, centred), [0, C, H, W]);
}

function forward(f: GroupNormFormulation): Variant {
  return {
    name: `${f} forward`, backward: false, build: (b) => {
      const x = b.input('x', 'float32', ['N', C, H, W]);
      b.output(affine(b, groupStandardize(b, x, G, { formulation: f })).y, 'y');
    },
  };
}

const variants: Variant[] = [
  forward('instancenorm'),
  forward('explicit'),
  forward('layernorm'),
  {
    name: 'instancenorm fwd+bwd (rule recomputes stats)', backward: true, build: (b) => {
      const x = b.input('x', 'float32', ['N', C, H, W]);
      const dy = b.input('dy', 'float32', ['N', C, H, W]);
      const xr = b.reshape(x, [0, G, -1]);
      const xh = b.instanceNorm(xr, constant(b, new Array(G).fill(1)), constant(b, new Array(G).fill(0)), EPS);
      const { y, gamma } = affine(b, b.reshape(xh, [0, C, H, W]));
      b.output(y, 'y');
      const g = affineBackward(b, dy, b.reshape(xh, [0, C, H, W]), gamma);
      const d = b.sub(xr, b.reduceMean(xr, [-1]));
      const inv = b.reciprocal(b.sqrt(b.add(b.reduceMean(b.mul(d, d), [-1]), constant(b, EPS))));
      b.output(closedForm(b, g, xh, inv), 'dx');
    },
  },
  {
    name: 'explicit fwd+bwd (op-by-op chain rule)', backward: true, build: (b) => {
      const x = b.input('x', 'float32', ['N', C, H, W]);
      const dy = b.input('dy', 'float32', ['N', C, H, W]);
      const xr = b.reshape(x, [0, G, -1]);
      const mean = b.reduceMean(xr, [-1]);
      const d = b.sub(xr, mean);
      const v = b.reduceMean(b.mul(d, d), [-1]);
      const s = b.sqrt(b.add(v, constant(b, EPS)));
      const xh = b.div(d, s);
      const { y, gamma } = affine(b, b.reshape(xh, [0, C, H, W]));
      b.output(y, 'y');
      const g = affineBackward(b, dy, b.reshape(xh, [0, C, H, W]), gamma);
      // Div: dd1 = g / s; ds = -sum_L(g * d / s^2)
      const dd1 = b.div(g, s);
      const ds = b.neg(b.reduceSum(b.mul(g, b.div(d, b.mul(s, s))), [-1]));
      // Sqrt: dv = ds * 0.5 / s; ReduceMean: dsq = expand(dv) / L; Mul(d, d): dd2 = 2 d dsq
      const dv = b.div(b.mul(ds, constant(b, 0.5)), s);
      const dsq = b.expand(b.mul(dv, constant(b, 1 / L)), b.shapeOf(d));
      const dd = b.add(dd1, b.add(b.mul(dsq, d), b.mul(dsq, d)));
      // Sub: dx = dd - expand(sum(dd)) / L (through the mean)
      const dmean = b.neg(b.reduceSum(dd, [-1]));
      const dx = b.add(dd, b.expand(b.mul(dmean, constant(b, 1 / L)), b.shapeOf(d)));
      b.output(b.reshape(dx, [0, C, H, W]), 'dx');
    },
  },
  {
    name: 'layernorm fwd+bwd (rule reuses Mean/InvStdDev)', backward: true, build: (b) => {
      const x = b.input('x', 'float32', ['N', C, H, W]);
      const dy = b.input('dy', 'float32', ['N', C, H, W]);
      const xr = b.reshape(x, [0, G, -1]);
      const [xh, , inv] = b.node('LayerNormalization', [xr, b.expand(constant(b, 1), [L]), null], { axis: -1, epsilon: EPS }, 3);
      const { y, gamma } = affine(b, b.reshape(xh, [0, C, H, W]));
      b.output(y, 'y');
      const g = affineBackward(b, dy, b.reshape(xh, [0, C, H, W]), gamma);
      b.output(closedForm(b, g, xh, inv), 'dx');
    },
  },
];

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main(): Promise<void> {
  const x = new Tensor('float32', [N, C, H, W], random(N * C * H * W, 1));
  const dy = new Tensor('float32', [N, C, H, W], random(N * C * H * W, 2));
  const sessions: NodeSession[] = [];
  const diffs: string[][] = [];
  const first: Record<string, Tensor> = {};
  for (const v of variants) {
    const b = new Builder(undefined, { seed: 0 });
    v.build(b);
    const session = await NodeSession.create(newModel(b.graph), { threads: THREADS });
    const out = await session.run(v.backward ? { x, dy } : { x });
    diffs.push(['y', 'dx'].filter((k) => out[k]).map((k) => {
      first[k] ??= out[k];
      let m = 0;
      for (let i = 0; i < out[k].size; i++) m = Math.max(m, Math.abs((out[k].data[i] as number) - (first[k].data[i] as number)));
      return m.toExponential(1);
    }));
    sessions.push(session);
  }
  // each variant runs back to back (warm arena and caches); the min is the figure least disturbed
  // by other processes, the median shows how noisy the machine was
  const times: number[][] = variants.map(() => []);
  for (let k = 0; k < variants.length; k++) {
    const feeds = variants[k].backward ? { x, dy } : { x };
    for (let r = 0; r < 3; r++) await sessions[k].run(feeds);
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await sessions[k].run(feeds);
      times[k].push(performance.now() - t0);
    }
  }
  console.log(`GroupNorm x [${N},${C},${H},${W}] G=${G}, ORT CPU, ${THREADS} threads, ${os.cpus()[0]?.model ?? '?'}, ${reps} runs per variant after 3 warm-ups: min (median)`);
  console.log('| formulation | ms per call, min (median) | max abs diff of y / dx vs the first row of its kind |');
  console.log('|---|---|---|');
  variants.forEach((v, k) => console.log(`| ${v.name} | ${Math.min(...times[k]).toFixed(1)} (${median(times[k]).toFixed(1)}) | ${diffs[k].join(' / ')} |`));
  for (const s of sessions) await s.release();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
