import { DiffusionError } from '../core/errors';
import type { Node } from './ir';
import { DType, Dim, Shape, Tensor } from './tensor';

/**
 * What inference knows about one value: dtype, shape (absent = unknown rank), and for small
 * integer tensors (shape arithmetic in PyTorch exports) the contents as dims, possibly symbolic.
 */
export interface Known {
  dtype: DType;
  shape?: Shape;
  /** Contents of a rank-0/1 integer tensor, e.g. Shape(x) = ['N', 64, 8, 8]. */
  data?: Dim[];
  /** Contents of a constant float/int tensor (initializer or Constant) when small. */
  tensor?: Tensor;
}

export interface InferContext {
  node: Node;
  inputs: (Known | undefined)[];
  /** A fresh symbolic dim name, for dims inference cannot pin down. */
  fresh(): string;
}

export type InferRule = (ctx: InferContext) => Known[];

/** Elementwise dim arithmetic; symbolic operands give an opaque symbolic result. */
export function dimOp(a: Dim, b: Dim, op: '+' | '-' | '*' | '/', f: (x: number, y: number) => number): Dim {
  if (typeof a === 'number' && typeof b === 'number') return f(a, b);
  if (op === '*' && (a === 1 || b === 1)) return a === 1 ? b : a;
  if ((op === '+' || op === '-') && b === 0) return a;
  if (op === '/' && b === 1) return a;
  return `(${a}${op}${b})`;
}

/** numpy broadcasting of shapes. */
export function broadcastShapes(shapes: Shape[], where: string): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (typeof d === 'number' && typeof e === 'number' && d !== e) {
        throw new DiffusionError(`${where}: shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
      } else if (typeof d === 'string' && typeof e === 'number') d = e;
    }
    out.push(d);
  }
  return out;
}

const SMALL = 64;

/** Known facts about an initializer: small integer tensors carry their contents. */
export function knownFromTensor(t: Tensor): Known {
  const k: Known = { dtype: t.dtype, shape: [...t.dims] };
  if (t.size <= SMALL) k.tensor = t;
  if ((t.dtype === 'int64' || t.dtype === 'int32') && t.dims.length <= 1 && t.size <= SMALL) k.data = t.toNumbers();
  return k;
}


/** Input i of the node, failing with the node named when inference knows nothing about it. */
export function need(ctx: InferContext, i: number): Known {
  const k = ctx.inputs[i];
  if (!k) throw new DiffusionError(`${ctx.node.opType} node '${ctx.node.name}': input ${i} ('${ctx.node.inputs[i] ?? ''}') is unknown`);
  return k;
}
