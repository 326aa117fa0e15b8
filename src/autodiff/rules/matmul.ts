import { attrFloat, attrInt } from '../../onnx/ir';
import type { Builder, Value } from '../../onnx/builder';
import { rankOf, reshapeLike, unbroadcast } from '../helpers';
import { GradRule, gy0 } from './types';

/** Swaps the last two axes. */
function transposeLast(b: Builder, v: Value, rank: number): Value {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return b.transpose(v, perm);
}

/**
 * Y = A @ B (numpy matmul: batched, broadcast, 1-D operands promoted to matrices):
 * dA = dY @ B^T, dB = A^T @ dY, each summed over broadcast batch axes.
 */
export const MatMul: GradRule = (c) => {
  const { b, x, needs, node } = c;
  const [A, B] = [x(0), x(1)];
  const [ra, rb] = [rankOf(b, A, node), rankOf(b, B, node)];
  const a2 = ra === 1 ? b.unsqueeze(A, [0]) : A;
  const b2 = rb === 1 ? b.unsqueeze(B, [1]) : B;
  let g = gy0(c);
  if (ra === 1) g = b.unsqueeze(g, [rankOf(b, g, node) - (rb === 1 ? 0 : 1)]);
  if (rb === 1) g = b.unsqueeze(g, [rankOf(b, g, node)]);
  const rA = Math.max(ra, 2);
  const rB = Math.max(rb, 2);
  return [
    needs[0] ? reshapeLike(b, unbroadcast(b, b.matmul(g, transposeLast(b, b2, rB)), a2), A) : undefined,
    needs[1] ? reshapeLike(b, unbroadcast(b, b.matmul(transposeLast(b, a2, rA), g), b2), B) : undefined,
  ];
};

/**
 * Y = alpha op(A) op(B) + beta C with op = optional transpose:
 * d op(A) = alpha dY op(B)^T and d op(B) = alpha op(A)^T dY, each written as one Gemm.
 */
export const Gemm: GradRule = (c) => {
  const { b, x, needs, node } = c;
  const g = gy0(c);
  const [A, B] = [x(0), x(1)];
  const ta = attrInt(node, 'transA', 0);
  const tb = attrInt(node, 'transB', 0);
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const gemm = (p: Value, q: Value, transA: number, transB: number) =>
    b.op('Gemm', [p, q], { transA: transA || undefined, transB: transB || undefined, alpha: alpha === 1 ? undefined : alpha });
  return [
    needs[0] ? (ta ? gemm(B, g, tb, 1) : gemm(g, B, 0, 1 - tb)) : undefined,
    needs[1] ? (tb ? gemm(g, A, 1, ta) : gemm(A, g, 1 - ta, 0)) : undefined,
    needs[2] ? unbroadcast(b, beta === 1 ? g : b.scale(g, beta), x(2)) : undefined,
  ];
};
