/**
 * Times the convolution gradient formulations the autodiff rules can emit, in onnxruntime-node.
 * Usage: node --import tsx tools/bench-grad.ts [batch=64] [channels=64] [size=32] [runs=5]
 */
import * as os from 'node:os';
import { grad, InputGradient, WeightGradient } from '../src/autodiff';
import { Rng } from '../src/core/rng';
import { Builder, Value } from '../src/onnx/builder';
import { newModel } from '../src/onnx/ir';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';

const [N, C, S, RUNS] = [64, 64, 32, 5].map((d, i) => Number(process.argv[2 + i] ?? d));
const flop = 2 * N * C * C * 9 * S * S;
const rng = new Rng(0);
const feeds = {
  x: Tensor.float32([N, C, S, S], rng.normalArray(N * C * S * S)),
  w: Tensor.float32([C, C, 3, 3], rng.normalArray(C * C * 9)),
  dy: Tensor.float32([N, C, S, S], rng.normalArray(N * C * S * S)),
};

/** A graph y = Conv(x, w, pads 1) whose single output is `pick(b, y)`. */
function graphOf(pick: (b: Builder, y: Value) => Value) {
  const b = new Builder();
  const x = b.input('x', 'float32', [N, C, S, S]);
  const w = b.input('w', 'float32', [C, C, 3, 3]);
  const y = b.conv(x, w, null, { pads: [1, 1, 1, 1] });
  b.output(pick(b, y), 'out');
  return newModel(b.graph);
}

const gradOf = (wrt: string, variant: WeightGradient = 'unfold-matmul', input: InputGradient = 'conv-flipped') => (b: Builder, y: Value) => {
  const conv = { weightGradient: variant, inputGradient: input };
  return grad(b, { of: y.name, wrt: [wrt], seed: b.input('dy', 'float32', [N, C, S, S]), conv }).get(wrt)!;
};

const cases: [string, string, ReturnType<typeof graphOf>][] = [
  ['forward', 'Conv', graphOf((_, y) => y)],
  ['input gradient dX', 'conv-transpose: ConvTranspose(dY, W)', graphOf(gradOf('x', undefined, 'conv-transpose'))],
  ['input gradient dX', 'conv-flipped: Conv(dY, flip(W^T)), pads k-1-p', graphOf(gradOf('x', undefined, 'conv-flipped'))],
  ['weight gradient dW', 'conv-transposed: Conv(X^T, dY^T), batch as channels', graphOf(gradOf('w', 'conv-transposed'))],
  ['weight gradient dW', 'slice-gemm: NHWC, 9 strided Slices each into Gemm(transA), Concat', graphOf(gradOf('w', 'slice-gemm'))],
  ['weight gradient dW', 'shift-matmul: padded X flattened, 9 contiguous Slices + Concat, batched MatMul(dY padded, P^T), ReduceSum N', graphOf(gradOf('w', 'shift-matmul'))],
  ['weight gradient dW', 'unfold-matmul: one-hot depthwise Conv unfold, batched MatMul(dY, P^T), ReduceSum N', graphOf(gradOf('w', 'unfold-matmul'))],
];

async function main() {
  console.log(`3x3 conv ${C}->${C}, ${S}x${S}, batch ${N}, pads 1: ${(flop / 1e9).toFixed(2)} GFLOP per pass; ${os.availableParallelism()} threads; ${RUNS}-run means after 1 warm-up`);
  console.log('| computation | formulation | ms | GFLOP/s |\n|---|---|---|---|');
  for (const [what, how, model] of cases) {
    const s = await NodeSession.create(model);
    const inputs = Object.fromEntries(s.inputNames.map((n) => [n, feeds[n as keyof typeof feeds]]));
    await s.run(inputs);
    const t0 = performance.now();
    for (let i = 0; i < RUNS; i++) await s.run(inputs);
    const ms = (performance.now() - t0) / RUNS;
    console.log(`| ${what} | ${how} | ${ms.toFixed(0)} | ${(flop / 1e6 / ms).toFixed(0)} |`);
    await s.release();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
