/**
 * Memory of one run of a step graph, estimated from its shapes before anything is allocated: a
 * walk in execution order that adds each node's outputs and frees each value after its last use,
 * the way ONNX Runtime's arena (memory pattern off) holds them. The peak, plus the serialized
 * graph ORT copies in while creating the session, is what the page's WASM heap must hold.
 */
import { DiffusionError } from '../core/errors';
import type { Graph } from '../onnx/ir';
import { inferGraph } from '../onnx/infer';
import { BYTES_PER_ELEMENT } from '../onnx/tensor';
import { namePredicate } from './params';

/** wasm32 addresses 4 GiB: the most one onnxruntime-web WASM instance can allocate. */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;

/**
 * ORT's arena rounds allocations up and keeps some kernels' scratch buffers (im2col, GEMM packing)
 * besides the tensors counted here. A quarter on top matched onnxruntime-node's RSS growth for
 * unet-fashion-mnist steps (2026-11-26: batch 8 estimated 0.16 GiB, measured 0.19; batch 32: 0.55, 0.57).
 */
const OVERHEAD = 1.25;

export interface StepMemory {
  batch: number;
  /** Estimated bytes of one step at `batch`. */
  bytes: number;
  /** The part that grows with the batch, per image. */
  perImage: number;
}

export function estimateStepMemory(graph: Graph, batch: number, batchInputs: readonly string[], graphBytes = 0): StepMemory {
  const known = inferGraph(graph);
  const sizeOf = (name: string): number => {
    const k = known.get(name);
    if (!k?.shape || !k.shape.every((d): d is number => typeof d === 'number')) return 0;
    return k.shape.reduce((p, d) => p * d, 1) * BYTES_PER_ELEMENT[k.dtype];
  };
  // A value grows with the batch when it is computed from the batch and has a dim of that size.
  const fromBatch = new Set(batchInputs);
  for (const n of graph.nodes) if (n.inputs.some((i) => i && fromBatch.has(i))) for (const o of n.outputs) if (o) fromBatch.add(o);
  const scales = (name: string) => fromBatch.has(name) && (known.get(name)?.shape ?? []).includes(batch);

  const lastUse = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((v) => v && lastUse.set(v, i)));
  const kept = new Set([...graph.inputs.map((v) => v.name), ...graph.initializers.keys(), ...graph.outputs.map((v) => v.name)]);
  let live = 0;
  let liveBatch = 0;
  for (const name of [...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]) {
    live += sizeOf(name);
    if (scales(name)) liveBatch += sizeOf(name);
  }
  let peak = live;
  let peakBatch = liveBatch;
  graph.nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (!o) continue;
      live += sizeOf(o);
      if (scales(o)) liveBatch += sizeOf(o);
    }
    if (live > peak) [peak, peakBatch] = [live, liveBatch];
    for (const v of new Set([...n.inputs, ...n.outputs])) {
      if (!v || kept.has(v) || (lastUse.get(v) ?? -1) > i) continue;
      live -= sizeOf(v);
      if (scales(v)) liveBatch -= sizeOf(v);
    }
  });
  return { batch, bytes: peak * OVERHEAD + graphBytes, perImage: (peakBatch * OVERHEAD) / batch };
}

/** The largest batch whose step fits in `limit` bytes (0 when not even one image does). */
export function batchThatFits(m: StepMemory, limit: number): number {
  const fixed = m.bytes - m.perImage * m.batch;
  return m.perImage > 0 ? Math.max(0, Math.floor((limit - fixed) / m.perImage)) : m.batch;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(n < 2 ** 30 ? 2 : 1)} GiB`;

/** Refuses a step that will not fit in `limit` bytes, in one line naming the batch that would. */
export function checkStepMemory(m: StepMemory, limit: number, where: string, heap = 'the WASM heap (4 GiB, wasm32)'): void {
  if (m.bytes <= limit) return;
  const fit = batchThatFits(m, limit);
  const advice = fit >= 1 ? `batch ${fit} would fit` : 'not even batch 1 fits: train fewer parameters (`trainable`) or a smaller model';
  const limitText = limit === WASM_HEAP_BYTES ? heap : `the ${gib(limit)} allowed (memoryLimit)`;
  throw new DiffusionError(`${where}: a training step at batch ${m.batch} needs about ${gib(m.bytes)}, more than ${limitText}; ${advice}`);
}

/** A training run's weights: the frozen ones held once, the trainable ones with their gradients and optimizer state. */
export interface WeightMemory {
  frozenBytes: number;
  trainableBytes: number;
  /** frozenBytes + copies x trainableBytes. */
  bytes: number;
}

/**
 * The weights' part of a run's memory, before the step graph exists: frozen initializers once (the
 * step graph reads them as they are), and `copies` of the float32 trainable ones (params, m, v,
 * EMA, the gradient and the step's updated outputs). `trainable` is the --trainable pattern, or
 * LORA_TRAINABLE for a LoRA run. Sizes come from dims, so weights not yet read (external data) count.
 */
export function estimateWeightMemory(graph: Graph, trainable: string | undefined, copies: number): WeightMemory {
  const trains = namePredicate(trainable);
  let frozenBytes = 0;
  let trainableBytes = 0;
  for (const [name, t] of graph.initializers) {
    const bytes = t.dims.reduce((p, d) => p * d, 1) * BYTES_PER_ELEMENT[t.dtype];
    if (t.dtype === 'float32' && trains(name)) trainableBytes += bytes;
    else frozenBytes += bytes;
  }
  return { frozenBytes, trainableBytes, bytes: frozenBytes + copies * trainableBytes };
}
