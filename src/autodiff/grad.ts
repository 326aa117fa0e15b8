import { DiffusionError } from '../core/errors';
import { Builder, Value } from '../onnx/builder';
import type { Graph, Node } from '../onnx/ir';
import { filledLike, FLOAT_DTYPES, zerosLike } from './helpers';
import { CONSTANT_INPUTS, RULES } from './rules';
import { ConvGradOptions, DEFAULT_CONV_GRAD } from './rules/conv';
import type { GradRuleOptions } from './rules/types';

export interface GradOptions {
  /** The value to differentiate: a float scalar, or any shape when `seed` is given. */
  of: string;
  /** Values to differentiate with respect to (initializers, graph inputs or intermediates). */
  wrt: string[];
  /** The gradient of `of` (defaults to ones). */
  seed?: Value;
  /** Conv-gradient formulations (default DEFAULT_CONV_GRAD: unfold-smaller weight, flipped-kernel input). */
  conv?: Partial<ConvGradOptions>;
}

/**
 * Appends the backward pass of `of` to the builder's graph (reverse-mode autodiff over ONNX ops)
 * and returns the gradient per `wrt` name; names not on a path to `of` get zeros.
 * Only nodes on a path from `wrt` to `of` are visited; integer/bool values and the inputs listed in
 * CONSTANT_INPUTS (shapes, indices, conditions, scales...) are treated as constants.
 */
export function grad(b: Builder, opts: GradOptions): Map<string, Value> {
  // Backward nodes are named grad/... (grad.<OpType>/... inside a rule), so a profile splits forward from backward exactly.
  return b.scope('grad', () => backward(b, opts));
}

function backward(b: Builder, opts: GradOptions): Map<string, Value> {
  const { of, wrt } = opts;
  const options: GradRuleOptions = { conv: { ...DEFAULT_CONV_GRAD, ...opts.conv } };
  const nodes = b.graph.nodes.slice();
  const isFloat = (name: string) => !!name && FLOAT_DTYPES.has(b.facts(name)?.dtype ?? '');
  const differentiable = (n: Node, i: number) => isFloat(n.inputs[i]) && !CONSTANT_INPUTS[n.opType]?.includes(i);

  // 1. Values that depend differentiably on some wrt value (forward sweep in topological order).
  const live = new Set(wrt.filter(isFloat));
  for (const n of nodes) {
    if (n.inputs.some((v, i) => live.has(v) && differentiable(n, i))) for (const o of n.outputs) if (isFloat(o)) live.add(o);
  }

  // 2. Reverse sweep from `of`, summing fan-out gradients.
  const grads = new Map<string, Value>();
  const accumulate = (name: string, g: Value) => {
    const prev = grads.get(name);
    grads.set(name, prev ? b.add(prev, g) : g);
  };
  if (live.has(of)) grads.set(of, opts.seed ?? filledLike(b, b.value(of), 1));
  for (let k = nodes.length - 1; k >= 0 && live.has(of); k--) {
    const node = nodes[k];
    const gy = node.outputs.map((o) => grads.get(o));
    if (gy.every((g) => !g)) continue;
    const needs = node.inputs.map((v, i) => live.has(v) && differentiable(node, i));
    if (!needs.some(Boolean)) continue;
    const rule = node.domain && node.domain !== 'ai.onnx' ? undefined : RULES[node.opType];
    const first = node.inputs[needs.indexOf(true)];
    if (!rule) throw new DiffusionError(`no gradient rule for op '${node.opType}' (node '${node.name}', input '${first}' on the path to '${of}')`);
    let gx: (Value | undefined)[];
    try {
      // Named grad.<OpType>/..., so a profile can tell which forward op each backward node serves.
      gx = b.scope(node.opType, () => rule({ node, b, gy, needs, options, x: (i) => b.value(node.inputs[i]), y: (i) => b.value(node.outputs[i]) }));
    } catch (e) {
      if (e instanceof DiffusionError) throw e;
      throw new DiffusionError(`gradient of op '${node.opType}' (node '${node.name}') failed: ${(e as Error).message}`);
    }
    needs.forEach((need, i) => {
      if (!need) return;
      const g = gx[i];
      if (!g) throw new DiffusionError(`gradient of op '${node.opType}' (node '${node.name}'): no gradient for input ${i} ('${node.inputs[i]}') on the path to '${of}'`);
      accumulate(node.inputs[i], g);
    });
  }
  return new Map(wrt.map((w) => [w, grads.get(w) ?? zerosLike(b, b.value(w))]));
}

/** `grad` over an existing graph (ours or a decoded foreign export), wrapped in a Builder. */
export function gradGraph(graph: Graph, opts: GradOptions): Map<string, Value> {
  return grad(new Builder(graph), opts);
}
