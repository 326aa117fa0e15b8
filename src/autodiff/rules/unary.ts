import { attrFloat } from '../../onnx/ir';
import { scalar } from '../helpers';
import { GradContext, GradRule, gy0 } from './types';

/** Elementwise unary ops: dx = dy * f'(x), written with whichever of x or y is cheaper. */

const unary = (f: (c: GradContext, g: ReturnType<typeof gy0>) => ReturnType<typeof gy0>): GradRule => (c) => [f(c, gy0(c))];

export const Neg = unary(({ b }, g) => b.neg(g));
export const Identity = unary((_, g) => g);
// d sqrt(x) = 1 / (2 sqrt(x))
export const Sqrt = unary(({ b, y }, g) => b.div(g, b.scale(y(0), 2)));
export const Exp = unary(({ b, y }, g) => b.mul(g, y(0)));
export const Log = unary(({ b, x }, g) => b.div(g, x(0)));
// d(1/x) = -1/x^2 = -y^2
export const Reciprocal = unary(({ b, y }, g) => b.neg(b.mul(g, b.mul(y(0), y(0)))));
export const Abs = unary(({ b, x }, g) => b.mul(g, b.op('Sign', [x(0)])));
// d tanh = 1 - y^2
export const Tanh = unary(({ b, y }, g) => b.mul(g, b.sub(scalar(b, 1, g), b.mul(y(0), y(0)))));
// d sigmoid = y (1 - y)
export const Sigmoid = unary(({ b, y }, g) => b.mul(g, b.mul(y(0), b.sub(scalar(b, 1, g), y(0)))));
export const Relu = unary(({ b, x }, g) => b.where(b.op('Greater', [x(0), scalar(b, 0, g)]), g, scalar(b, 0, g)));
export const LeakyRelu = unary(({ b, x, node }, g) =>
  b.where(b.op('Greater', [x(0), scalar(b, 0, g)]), g, b.scale(g, attrFloat(node, 'alpha', 0.01))),
);
// d erf(x) = 2/sqrt(pi) exp(-x^2)
export const Erf = unary(({ b, x }, g) => b.mul(g, b.scale(b.exp(b.neg(b.mul(x(0), x(0)))), 2 / Math.sqrt(Math.PI))));
export const Sin = unary(({ b, x }, g) => b.mul(g, b.cos(x(0))));
export const Cos = unary(({ b, x }, g) => b.neg(b.mul(g, b.sin(x(0)))));

/** Float-to-float Cast: the gradient is cast back (int casts are never on a path). */
export const Cast = unary(({ b, x }, g) => (g.dtype === x(0).dtype ? g : b.cast(g, x(0).dtype)));
