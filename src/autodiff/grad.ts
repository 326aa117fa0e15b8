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
  /**
   * Gradient checkpointing: the backward pass of each block recomputes the block's forward from
   * its inputs instead of reading the activations kept from the forward pass, so only block
   * boundaries stay alive. `true` finds blocks by node name (see blockOfNode); a function names
   * the block of a node (undefined: not in a block).
   */
  recompute?: boolean | ((node: Node) => string | undefined);
}

/**
 * The block a forward node belongs to, by its name: our models' `down.1.res.0`, `mid.attn`, ...;
 * a diffusers export's `/down_blocks.0/resnets.0/...` or `/up_blocks.1/attentions.2/...` (a
 * ResnetBlock2D or a whole Transformer2DModel). Other nodes (conv_in, time embedding) are in none.
 */
export function blockOfNode(node: Node): string | undefined {
  const ours = /^((?:down|up)\.\d+\.(?:res|attn)\.\d+|mid\.(?:res\.\d+|attn))(?:[./]|$)/.exec(node.name);
  if (ours) return ours[1];
  const parts = node.name.split('/').filter(Boolean);
  return node.name.startsWith('/') && parts.length > 2 ? parts.slice(0, 2).join('/') : undefined;
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
  const recompute = opts.recompute ? new Recompute(b, nodes, new Set(wrt), opts.recompute === true ? blockOfNode : opts.recompute) : undefined;
  for (let k = nodes.length - 1; k >= 0 && live.has(of); k--) {
    const forward = nodes[k];
    const gy = forward.outputs.map((o) => grads.get(o));
    if (gy.every((g) => !g)) continue;
    const needs = forward.inputs.map((v, i) => live.has(v) && differentiable(forward, i));
    if (!needs.some(Boolean)) continue;
    // With recompute, the rule reads the block's recomputed values; gradients still go to the forward names.
    const node = recompute ? recompute.reading(forward, gy.find((g) => !!g)!) : forward;
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
      if (!g) throw new DiffusionError(`gradient of op '${node.opType}' (node '${node.name}'): no gradient for input ${i} ('${forward.inputs[i]}') on the path to '${of}'`);
      accumulate(forward.inputs[i], g);
    });
  }
  return new Map(wrt.map((w) => [w, grads.get(w) ?? zerosLike(b, b.value(w))]));
}

/** `grad` over an existing graph (ours or a decoded foreign export), wrapped in a Builder. */
export function gradGraph(graph: Graph, opts: GradOptions): Map<string, Value> {
  return grad(new Builder(graph), opts);
}

/**
 * Gradient checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): when
 * the backward pass reaches a block, the block's forward nodes are emitted again, reading the
 * block's inputs plus 0 * (one element of the gradient arriving at the block). That term makes the
 * copy wait for the backward pass (ORT would otherwise run it at once and keep its outputs just as
 * long) and keeps common-subexpression passes from merging it with the forward. The block's
 * backward rules then read the copies, so the forward activations inside the block die as soon as
 * the forward pass is done with them.
 */
class Recompute {
  private readonly blocks = new Map<string, Node[]>();
  private readonly producedIn = new Map<string, string>();
  private readonly copies = new Map<string, Map<string, string>>();
  private readonly constants = new Set<string>();

  constructor(private readonly b: Builder, nodes: Node[], private readonly weights: Set<string>, private readonly blockOf: (n: Node) => string | undefined) {
    for (const n of nodes) {
      if (n.opType === 'Constant') {
        for (const o of n.outputs) this.constants.add(o);
        continue;
      }
      const k = blockOf(n);
      if (k === undefined) continue;
      const list = this.blocks.get(k);
      if (list) list.push(n);
      else this.blocks.set(k, [n]);
      for (const o of n.outputs) if (o) this.producedIn.set(o, k);
    }
  }

  /** The node as its rule should read it: inputs and outputs made inside its block renamed to the recomputed copies. */
  reading(node: Node, arriving: Value): Node {
    const k = this.blockOf(node);
    if (k === undefined || !this.blocks.has(k)) return node;
    let map = this.copies.get(k);
    if (!map) {
      map = this.emit(k, arriving);
      this.copies.set(k, map);
    }
    const m = map;
    return { ...node, inputs: node.inputs.map((i) => m.get(i) ?? i), outputs: node.outputs.map((o) => m.get(o) ?? o) };
  }

  private emit(block: string, arriving: Value): Map<string, string> {
    const b = this.b;
    const map = new Map<string, string>();
    const entry = new Map<string, string>();
    return b.scope('recompute', () => {
      const zero = b.mul(b.slice(b.reshape(arriving, [-1]), [0], [1], [0]), b.constant(0, arriving.dtype));
      for (const n of this.blocks.get(block)!) {
        const inputs = n.inputs.map((i) => {
          if (!i) return i;
          const copy = map.get(i);
          if (copy) return copy;
          const f = b.facts(i);
          const fixed = this.weights.has(i) || this.constants.has(i) || b.graph.initializers.has(i) || f?.dtype !== arriving.dtype;
          if (fixed) return i;
          if (!entry.has(i)) entry.set(i, b.add(b.value(i), zero).name);
          return entry.get(i)!;
        });
        const outputs = n.outputs.map((o) => (o ? `recompute/${o}` : o));
        b.graph.nodes.push({ ...n, name: `recompute/${n.name}`, inputs, outputs, attrs: { ...n.attrs } });
        n.outputs.forEach((o, j) => {
          if (!o) return;
          const f = b.facts(o);
          b.adopt({ name: outputs[j], dtype: f?.dtype ?? 'float32', shape: f?.shape ?? [] });
          map.set(o, outputs[j]);
        });
      }
      return map;
    });
  }
}
