import { scalar, unbroadcast } from '../helpers';
import { GradRule, gy0 } from './types';

/** Binary arithmetic with numpy broadcasting: every input gradient is summed back to its shape. */

export const Add: GradRule = (c) => {
  const g = gy0(c);
  return [c.needs[0] ? unbroadcast(c.b, g, c.x(0)) : undefined, c.needs[1] ? unbroadcast(c.b, g, c.x(1)) : undefined];
};

export const Sub: GradRule = (c) => {
  const g = gy0(c);
  return [c.needs[0] ? unbroadcast(c.b, g, c.x(0)) : undefined, c.needs[1] ? unbroadcast(c.b, c.b.neg(g), c.x(1)) : undefined];
};

export const Mul: GradRule = (c) => {
  const { b, x, needs } = c;
  const g = gy0(c);
  return [
    needs[0] ? unbroadcast(b, b.mul(g, x(1)), x(0)) : undefined,
    needs[1] ? unbroadcast(b, b.mul(g, x(0)), x(1)) : undefined,
  ];
};

// y = a / b: dy/da = 1/b, dy/db = -a/b^2 = -y/b.
export const Div: GradRule = (c) => {
  const { b, x, needs } = c;
  const g = gy0(c);
  return [
    needs[0] ? unbroadcast(b, b.div(g, x(1)), x(0)) : undefined,
    needs[1] ? unbroadcast(b, b.neg(b.div(b.mul(g, c.y(0)), x(1))), x(1)) : undefined,
  ];
};

// y = a^e: dy/da = e a^(e-1), dy/de = y ln a.
export const Pow: GradRule = (c) => {
  const { b, x, needs } = c;
  const g = gy0(c);
  const [a, e] = [x(0), x(1)];
  return [
    needs[0] ? unbroadcast(b, b.mul(g, b.mul(e, b.pow(a, b.sub(e, scalar(b, 1, e))))), a) : undefined,
    needs[1] ? unbroadcast(b, b.mul(g, b.mul(c.y(0), b.log(a))), e) : undefined,
  ];
};

/** Variadic Sum/Mean: every input receives the (scaled) output gradient. */
export const Sum: GradRule = (c) => c.node.inputs.map((_, i) => (c.needs[i] ? unbroadcast(c.b, gy0(c), c.x(i)) : undefined));

export const Mean: GradRule = (c) => {
  const g = c.b.scale(gy0(c), 1 / c.node.inputs.length);
  return c.node.inputs.map((_, i) => (c.needs[i] ? unbroadcast(c.b, g, c.x(i)) : undefined));
};

/**
 * Min/Max route the gradient to the inputs equal to the result, split equally among ties:
 * dx_i = dy * [x_i == y] / #{j : x_j == y}. tinygrad's gradient.py does the same for MAX
 * (a tie gives each side dy * 0.5); giving every tied input dy in full would make max(a, a)
 * have gradient 2 dy. A finite difference cannot see this (ties are measure zero), so
 * test/autodiff/elementwise.test.ts checks exact ties directly.
 */
const select: GradRule = (c) => {
  const { b, x, needs } = c;
  const g = gy0(c);
  const masks = c.node.inputs.map((_, i) => b.cast(b.equal(x(i), c.y(0)), g.dtype));
  // count >= 1 wherever y is a number; max(count, 1) keeps a NaN result's gradient at 0, not 0/0.
  const count = masks.length === 1 ? undefined : b.max(masks.reduce((s, m) => b.add(s, m)), scalar(b, 1, g));
  const share = count ? b.div(g, count) : g;
  return c.node.inputs.map((_, i) => (needs[i] ? unbroadcast(b, b.mul(share, masks[i]), x(i)) : undefined));
};
export const Min = select;
export const Max = select;
