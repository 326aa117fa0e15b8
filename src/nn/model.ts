/** From a recipe to a self-describing model.onnx, and what it costs (parameters, FLOPs). */
import { ModelConfig, FORMAT, writeModelConfig } from '../core/model-config';
import { Builder } from '../onnx/builder';
import { inferGraph } from '../onnx/infer';
import { Graph, Model, newModel, Node } from '../onnx/ir';
import { Dim } from '../onnx/tensor';
import type { GroupNormFormulation } from './norm';
import { checkRecipeBudget } from './recipe-budget';
import type { Recipe } from '../core/recipe';
import { buildUnet } from './unet';

export interface BuildModelOptions {
  /** Initialisation seed; default recipe.seed. */
  seed?: number;
  /** Emit Dropout (for step graphs); the sampling model.onnx must be built without. */
  training?: boolean;
  groupNorm?: GroupNormFormulation;
}

/** Builds the UNet of `recipe` with seeded random weights; metadata carries the ModelConfig. */
export function buildModel(recipe: Recipe, opts: BuildModelOptions = {}): Model {
  checkRecipeBudget(recipe, '');
  const b = new Builder(undefined, { seed: opts.seed ?? recipe.seed });
  b.graph.name = 'unet';
  buildUnet(b, recipe, { training: opts.training, groupNorm: opts.groupNorm });
  const model = newModel(b.graph);
  const { classes, labels, condChannels, lowResSize, augment } = recipe.conditioning;
  const config: ModelConfig = {
    format: FORMAT,
    kind: recipe.kind,
    image: { ...recipe.image },
    diffusion: { ...recipe.diffusion },
    // only the keys the network has inputs for (nullClassDropout is a training setting, in recipe)
    conditioning: JSON.parse(JSON.stringify({ classes, labels, condChannels, lowResSize, augment })),
    recipe,
    parameters: countParams(model),
  };
  writeModelConfig(model.metadata, config);
  return model;
}

const FLOAT = new Set(['float32', 'float16', 'float64']);

/**
 * Number of trainable parameters: elements of float initializers. Models built here keep every
 * constant in Constant nodes, so float initializers are exactly the weights.
 */
export function countParams(model: Model | Graph): number {
  const g = model instanceof Graph ? model : model.graph;
  let n = 0;
  for (const t of g.initializers.values()) if (FLOAT.has(t.dtype)) n += t.size;
  return n;
}

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);

/**
 * Forward FLOPs = 2 x multiply-accumulates of Conv, ConvTranspose, MatMul, Gemm and Einsum, from
 * shapes inferred with every symbolic input dim set to `batch`. Elementwise ops, normalisation,
 * Softmax and Resize are ignored (a few % of a UNet's arithmetic, none of it GEMM-bound).
 */
export function countFlops(model: Model | Graph, batch = 1): number {
  const g = model instanceof Graph ? model : model.graph;
  const concrete = new Graph();
  Object.assign(concrete, g);
  concrete.inputs = g.inputs.map((i) => ({ ...i, shape: i.shape?.map((d) => (typeof d === 'number' ? d : batch)) }));
  const known = inferGraph(concrete);
  const shape = (name: string): number[] => {
    const s = known.get(name)?.shape;
    if (!s || s.some((d: Dim) => typeof d !== 'number')) throw new Error(`countFlops: shape of '${name}' is not known`);
    return s as number[];
  };
  let flops = 0;
  for (const n of g.nodes) flops += 2 * macs(n, shape);
  return flops;
}

function macs(n: Node, shape: (name: string) => number[]): number {
  switch (n.opType) {
    case 'Conv': {
      const w = shape(n.inputs[1]); // [out, in/group, k...]
      return prod(shape(n.outputs[0])) * prod(w.slice(1));
    }
    case 'ConvTranspose': {
      const w = shape(n.inputs[1]); // [in, out/group, k...]
      return prod(shape(n.inputs[0])) * prod(w.slice(1));
    }
    case 'MatMul': {
      const a = shape(n.inputs[0]);
      return prod(shape(n.outputs[0])) * a[a.length - 1];
    }
    case 'Gemm': {
      const a = shape(n.inputs[0]);
      const transA = n.attrs.transA?.type === 'int' && n.attrs.transA.value === 1;
      return prod(shape(n.outputs[0])) * (transA ? a[0] : a[1]);
    }
    case 'Einsum': {
      // every distinct index of the inputs, each once: the loop nest of a naive contraction
      const eq = n.attrs.equation?.type === 'string' ? n.attrs.equation.value : '';
      const sizes = new Map<string, number>();
      eq.split('->')[0].split(',').forEach((term, i) => {
        const s = shape(n.inputs[i]);
        [...term.trim()].forEach((ch, k) => sizes.set(ch, s[k]));
      });
      return prod([...sizes.values()]);
    }
    default:
      return 0;
  }
}
