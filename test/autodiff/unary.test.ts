import { checkGradient } from './fd';

// Values kept at least 0.2 away from 0, where Relu/Abs/LeakyRelu have kinks and Log/Sqrt blow up.
const awayFromZero = (z: number) => Math.sign(z || 1) * (0.2 + Math.abs(z));
const positive = (z: number) => 0.2 + Math.abs(z);

describe('autodiff unary rules', () => {
  const cases: [string, (b: import('../../src/onnx/builder').Builder, v: import('../../src/onnx/builder').Value) => import('../../src/onnx/builder').Value, ((z: number) => number)?][] = [
    ['Neg', (b, v) => b.neg(v)],
    ['Identity', (b, v) => b.identity(v)],
    ['Sqrt', (b, v) => b.sqrt(v), positive],
    ['Exp', (b, v) => b.exp(v)],
    ['Log', (b, v) => b.log(v), positive],
    ['Reciprocal', (b, v) => b.reciprocal(v), awayFromZero],
    ['Abs', (b, v) => b.abs(v), awayFromZero],
    ['Tanh', (b, v) => b.tanh(v)],
    ['Sigmoid', (b, v) => b.sigmoid(v)],
    ['Relu', (b, v) => b.relu(v), awayFromZero],
    ['LeakyRelu', (b, v) => b.leakyRelu(v, 0.2), awayFromZero],
    ['Erf', (b, v) => b.erf(v)],
    ['Sin', (b, v) => b.sin(v)],
    ['Cos', (b, v) => b.cos(v)],
    ['Cast (float32 -> float64 -> float32)', (b, v) => b.cast(b.mul(b.cast(v, 'float64'), b.constant(2, 'float64')), 'float32')],
  ];
  for (const [name, f, sample] of cases) {
    it(`${name} gradient matches finite differences`, async () => {
      await checkGradient({ inputs: { a: { shape: ['N', 5], dims: [3, 5] } }, build: (b, x) => f(b, x.a), sample, h: 1e-3 });
    });
  }
});
