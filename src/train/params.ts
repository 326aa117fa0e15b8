import { DiffusionError } from '../core/errors';
import { globMatcher } from '../core/glob';
import { Graph } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';

/** Where one trainable tensor lives inside the flat parameter vector. */
export interface ParamSlot {
  name: string;
  dims: number[];
  offset: number;
  size: number;
}

export interface ParamLayout {
  slots: ParamSlot[];
  total: number;
}

/**
 * Turns a --trainable pattern into a predicate over parameter names (core/glob.ts: comma-separated
 * globs, `*` any run of characters, a leading `!` freezes; no include glob = everything trains).
 */
export function namePredicate(pattern?: string): (name: string) => boolean {
  const match = globMatcher(pattern);
  return (name) => match(name);
}

/** The float32 initializers that train (all of them by default), in graph order. */
export function trainableLayout(graph: Graph, pattern?: string): ParamLayout {
  const keep = namePredicate(pattern);
  const slots: ParamSlot[] = [];
  let offset = 0;
  for (const [name, t] of graph.initializers) {
    if (t.dtype !== 'float32' || !keep(name)) continue;
    slots.push({ name, dims: [...t.dims], offset, size: t.size });
    offset += t.size;
  }
  if (slots.length === 0) {
    throw new DiffusionError(pattern ? `--trainable '${pattern}' matches no float parameter` : 'the model has no float parameters to train');
  }
  return { slots, total: offset };
}

/** Gathers the layout's tensors from a graph into one flat vector. */
export function flattenParams(graph: Graph, layout: ParamLayout): Float32Array {
  const flat = new Float32Array(layout.total);
  for (const s of layout.slots) {
    const t = graph.initializers.get(s.name);
    if (!t || t.size !== s.size) throw new DiffusionError(`parameter '${s.name}' is missing or has another size in this model`);
    flat.set(t.data as Float32Array, s.offset);
  }
  return flat;
}

/** Writes a flat vector back into a graph's initializers (e.g. EMA weights into model.onnx). */
export function unflattenInto(graph: Graph, layout: ParamLayout, flat: Float32Array): void {
  for (const s of layout.slots) {
    graph.initializers.set(s.name, new Tensor('float32', [...s.dims], flat.slice(s.offset, s.offset + s.size)));
  }
}
