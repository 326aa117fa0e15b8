import { constInts, scalar, unbroadcast } from '../helpers';
import { GradRule, gy0, unsupported } from './types';

/** Where(cond, x, y): dy goes to x where cond holds and to y elsewhere (cond is a constant). */
export const Where: GradRule = (c) => {
  const { b, x, needs } = c;
  const g = gy0(c);
  const zero = scalar(b, 0, g);
  return [
    undefined,
    needs[1] ? unbroadcast(b, b.where(x(0), g, zero), x(1)) : undefined,
    needs[2] ? unbroadcast(b, b.where(x(0), zero, g), x(2)) : undefined,
  ];
};

/** Clip: dy passes where x was inside [min, max], i.e. where the output equals the input. */
export const Clip: GradRule = (c) => {
  const { b } = c;
  const g = gy0(c);
  return [b.where(b.equal(c.x(0), c.y(0)), g, scalar(b, 0, g))];
};

/**
 * Dropout: identity in inference mode; in training mode y = x * mask / (1 - ratio), with the mask
 * (output 1) a constant.
 */
export const Dropout: GradRule = (c) => {
  const { b, node } = c;
  const g = gy0(c);
  const training = node.inputs[2] ? constInts(b, node.inputs[2]) : [0];
  if (training && training[0] === 0) return [g];
  if (!node.outputs[1]) unsupported(c, 'training mode without the mask output');
  const keep = node.inputs[1] ? b.sub(scalar(b, 1, g), b.cast(b.value(node.inputs[1]), g.dtype)) : scalar(b, 0.5, g);
  return [b.div(b.mul(g, b.cast(c.y(1), g.dtype)), keep)];
};
