import { attrString } from '../../onnx/ir';
import type { Value } from '../../onnx/builder';
import { GradContext, GradRule, gy0, unsupported } from './types';

/** Operand and output subscripts of an Einsum equation (explicit or implicit output). */
function parse(c: GradContext): { ins: string[]; out: string } {
  const eq = attrString(c.node, 'equation', '').replace(/\s/g, '');
  if (eq.includes('.')) unsupported(c, `ellipsis in equation '${eq}'`);
  const [lhs, rhs] = eq.split('->');
  const ins = lhs.split(',');
  const all = ins.join('');
  const out = rhs ?? [...new Set(all)].filter((l) => all.indexOf(l) === all.lastIndexOf(l)).sort().join('');
  for (const s of [...ins, out]) if (new Set(s).size !== s.length) unsupported(c, `repeated subscript (diagonal) in '${eq}'`);
  return { ins, out };
}

/**
 * Einsum with one or two operands: the gradient of operand k is einsum(dY, other operands ->
 * subscripts of k). Indices only operand k has (summed out alone) are dropped there and
 * restored by Unsqueeze + Expand, since the sum copies dY along them.
 */
export const Einsum: GradRule = (c) => {
  const { b, needs } = c;
  const { ins, out } = parse(c);
  if (ins.length > 2) unsupported(c, `${ins.length} operands`);
  const g = gy0(c);
  return ins.map((sub, k) => {
    if (!needs[k]) return undefined;
    const others = ins.filter((_, j) => j !== k);
    const avail = new Set([out, ...others].join(''));
    const kept = [...sub].filter((l) => avail.has(l)).join('');
    const operands: Value[] = [g, ...others.map((_, j) => c.x(j >= k ? j + 1 : j))];
    let gk = b.einsum(`${[out, ...others].join(',')}->${kept}`, ...operands);
    if (kept.length !== sub.length) {
      const missing = [...sub].map((l, i) => (avail.has(l) ? -1 : i)).filter((i) => i >= 0);
      gk = b.expand(b.unsqueeze(gk, missing), b.shapeOf(c.x(k)));
    }
    return gk;
  });
};
