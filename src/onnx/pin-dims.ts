/**
 * Pinning the symbolic dims of a graph's inputs (an export's `batch`, `channels`, `height`,
 * `sequence`) to sizes, so that shape inference and constant folding (fold.ts) make every shape
 * static for training.
 */
import { DiffusionError } from '../core/errors';
import type { Graph } from './ir';

/**
 * Sets the shape of each named input to the given sizes. A dim the graph declares as a number
 * must match; a symbolic one takes the size, and every other input using the same symbol takes
 * it too (so `batch` is pinned alike in `sample`, `timestep` and `encoder_hidden_states`).
 * `source` names the model in errors.
 */
export function pinInputShapes(graph: Graph, shapes: Record<string, number[]>, source = 'model'): void {
  const symbols = new Map<string, number>();
  for (const [name, dims] of Object.entries(shapes)) {
    const input = graph.inputs.find((i) => i.name === name);
    if (!input) throw new DiffusionError(`${source}: no input '${name}' to pin (inputs: ${graph.inputs.map((i) => i.name).join(', ')})`);
    const declared = input.shape ?? dims;
    if (declared.length !== dims.length) {
      throw new DiffusionError(`${source}: input '${name}' is declared [${declared.join(', ')}], cannot be pinned to [${dims.join(', ')}]`);
    }
    declared.forEach((d, k) => {
      const want = dims[k];
      const prior = typeof d === 'string' ? symbols.get(d) : undefined;
      if ((typeof d === 'number' && d !== want) || (prior !== undefined && prior !== want)) {
        throw new DiffusionError(`${source}: input '${name}' is declared [${declared.join(', ')}], cannot be pinned to [${dims.join(', ')}]`);
      }
      if (typeof d === 'string') symbols.set(d, want);
    });
  }
  pinSymbols(graph, symbols);
  for (const [name, dims] of Object.entries(shapes)) graph.inputs.find((i) => i.name === name)!.shape = [...dims];
}

/** Replaces each symbolic dim named in `sizes` by its size, in every input's declared shape. */
export function pinSymbols(graph: Graph, sizes: ReadonlyMap<string, number>): void {
  for (const i of graph.inputs) {
    if (i.shape) i.shape = i.shape.map((d) => (typeof d === 'string' && sizes.has(d) ? sizes.get(d)! : d));
  }
}
