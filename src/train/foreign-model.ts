/**
 * A foreign export (diffusers/optimum UNet, torch.onnx.export of any denoiser) made ready for the
 * step graph, as exported: its noisy input becomes `x`, its timestep is fed from the int64 `t`
 * the trainer draws (cast to the dtype the graph declares: float32 for diffusers, int64 for older
 * optimum), its symbolic dims are pinned from the config and the training batch, and its shape
 * subgraphs are constant-folded so that every convolution is static for autodiff. Weights keep
 * their names, so the trained vector writes back into the file as exported.
 */
import type { ModelConfig } from '../core/model-config';
import { DiffusionError } from '../core/errors';
import { findIoRoles, type IoRoles } from '../core/io-roles';
import { foldConstants, type FoldStats } from '../onnx/fold';
import { Graph, Model, Node } from '../onnx/ir';
import { pinInputShapes } from '../onnx/pin-dims';
import { ONNX_DTYPE } from '../onnx/tensor';

export interface ForeignPrepared {
  model: Model;
  roles: IoRoles;
  fold: FoldStats;
}

function renameValue(graph: Graph, from: string, to: string): void {
  if (from === to) return;
  if (graph.producers().has(to) || graph.inputs.some((i) => i.name === to) || graph.initializers.has(to)) {
    throw new DiffusionError(`the graph already has a value '${to}'; cannot rename '${from}' to it`);
  }
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  for (const v of [...graph.inputs, ...graph.outputs]) if (v.name === from) v.name = to;
}

/**
 * The graph the step is built from, for a model as exported: roles found by name (or `roles`),
 * inputs renamed to x and t, dims pinned to `batch` and the config's sizes, constants folded.
 * `source` names the file in errors.
 */
export function prepareForeignModel(model: Model, config: ModelConfig, batch: number, source: string, roles?: IoRoles): ForeignPrepared {
  const graph = model.graph.clone();
  const r = roles ?? findIoRoles(graph, {}, source);
  const { channels: c, size: s } = config.image;
  const shapes: Record<string, number[]> = { [r.sample]: [batch, c, s, s] };
  for (const name of r.conditioning) {
    const input = config.conditioning.inputs?.find((i) => i.name === name);
    const declared = graph.inputs.find((i) => i.name === name)!.shape ?? [];
    const dims = input?.shape ?? ['N', ...declared.slice(1)];
    const free = dims.slice(1).find((d) => typeof d !== 'number');
    if (free !== undefined) {
      throw new DiffusionError(`${source}: input '${name}' has a free dim '${free}' ([${dims.join(',')}]); give its size in the config (e.g. "inputs": {"${name}": "float32 [N,77,768]"})`);
    }
    shapes[name] = [batch, ...(dims.slice(1) as number[])];
  }
  // The timestep: the trainer draws int64 t [N]; the graph reads it in its own dtype.
  const tIn = graph.inputs.find((i) => i.name === r.timestep)!;
  const tShape = tIn.shape;
  if (tShape && (tShape.length !== 1 || (typeof tShape[0] === 'number' && tShape[0] !== batch))) {
    throw new DiffusionError(`${source}: the timestep '${r.timestep}' is declared [${tShape.join(',')}]; training feeds one timestep per sample ([${batch}])`);
  }
  if (tShape && typeof tShape[0] === 'string') shapes[r.timestep] = [batch];
  pinInputShapes(graph, shapes, source);

  renameValue(graph, r.sample, 'x');
  if (r.timestep !== 't' || tIn.dtype !== 'int64') {
    if (!['float32', 'float16', 'float64', 'int64', 'int32'].includes(tIn.dtype)) {
      throw new DiffusionError(`${source}: the timestep '${r.timestep}' is ${tIn.dtype}; expected a float or integer input`);
    }
    if (r.timestep === 't') renameValue(graph, 't', 't_declared');
    const declaredName = r.timestep === 't' ? 't_declared' : r.timestep;
    const feed: Node = tIn.dtype === 'int64'
      ? { name: 'timestep_from_t', opType: 'Identity', domain: '', inputs: ['t'], outputs: [declaredName], attrs: {} }
      : { name: 'timestep_from_t', opType: 'Cast', domain: '', inputs: ['t'], outputs: [declaredName], attrs: { to: { type: 'int', value: ONNX_DTYPE[tIn.dtype] } } };
    graph.inputs = graph.inputs.map((i) => (i === tIn ? { name: 't', dtype: 'int64', shape: [batch] } : i));
    graph.nodes.unshift(feed);
  }
  const fold = foldConstants(graph);
  return { model: { ...model, graph }, roles: r, fold };
}
