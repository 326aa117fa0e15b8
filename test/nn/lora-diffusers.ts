/**
 * A small denoiser-shaped graph named the way torch.onnx.export names a diffusers UNet: anonymous
 * `onnx::MatMul_N` attention and feed-forward weights read by nodes named after their modules
 * (`/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`), a named Gemm weight
 * (transB = 1, alpha 0.5) and a 3x3 Conv with pads. Every LoRA layout in ~20 nodes.
 */
import { Rng } from '../../src/core/rng';
import { Graph, Model, newModel, Node } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';

export const BLOCK = 'down_blocks.0.attentions.0.transformer_blocks.0';
const path = (m: string) => `/${m.split('.').reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}.${p}` : `${acc}/${p}`), '').slice(1)}`;

/** The modules of the graph in graph order, by preset. */
export const KEYS = {
  conv: 'conv_in',
  attn: [`${BLOCK}.attn1.to_q`, `${BLOCK}.attn2.to_k`, `${BLOCK}.attn2.to_v`, `${BLOCK}.attn1.to_out.0`],
  ff: [`${BLOCK}.ff.net.0.proj`, `${BLOCK}.ff.net.2`],
  gemm: 'time_embedding.linear_1',
};

export function diffusersLike(seed = 1): Model {
  const rng = new Rng(seed);
  const g = new Graph();
  g.name = 'diffusers_like';
  const w = (name: string, dims: number[]) => {
    g.initializers.set(name, Tensor.float32(dims, rng.normalArray(dims.reduce((p, d) => p * d, 1)).map((v) => v * 0.3)));
    return name;
  };
  const c = (name: string, t: Tensor) => (g.initializers.set(name, t), name);
  const node = (opType: string, name: string, inputs: string[], out: string, attrs: Node['attrs'] = {}) => {
    g.nodes.push({ name, opType, domain: '', inputs, outputs: [out], attrs });
    return out;
  };
  const ints = (value: number[]) => ({ type: 'ints' as const, value });
  g.inputs = [
    { name: 'sample', dtype: 'float32', shape: [2, 4, 6, 6] },
    { name: 'ctx', dtype: 'float32', shape: [2, 5, 8] },
    { name: 'temb', dtype: 'float32', shape: [2, 8] },
  ];
  const mm = (module: string, x: string, id: number, dims: number[]) => node('MatMul', `${path(module)}/MatMul`, [x, w(`onnx::MatMul_${id}`, dims)], `${path(module)}/MatMul_output_0`);
  let h = node('Conv', '/conv_in/Conv', ['sample', w('conv_in.weight', [8, 4, 3, 3]), w('conv_in.bias', [8])], '/conv_in/Conv_output_0', { pads: ints([1, 1, 1, 1]), kernel_shape: ints([3, 3]) });
  h = node('Transpose', '/Transpose', [h], '/Transpose_output_0', { perm: ints([0, 2, 3, 1]) });
  h = node('Reshape', '/Reshape', [h, c('shape_tokens', Tensor.int64([3], [2, 36, 8]))], '/Reshape_output_0');
  const q = mm(KEYS.attn[0], h, 1, [8, 8]);
  const k = mm(KEYS.attn[1], 'ctx', 2, [8, 8]);
  const v = mm(KEYS.attn[2], 'ctx', 3, [8, 8]);
  const kt = node('Transpose', '/attn/Transpose', [k], '/attn/kt', { perm: ints([0, 2, 1]) });
  const p = node('Softmax', '/attn/Softmax', [node('MatMul', '/attn/MatMul', [q, kt], '/attn/s')], '/attn/p', { axis: { type: 'int', value: -1 } });
  let o = mm(KEYS.attn[3], node('MatMul', '/attn/MatMul_1', [p, v], '/attn/pv'), 4, [8, 8]);
  o = node('Add', `${path(KEYS.attn[3])}/Add`, [w(`${KEYS.attn[3]}.bias`, [8]), o], '/attn/out');
  const f = node('Relu', '/ff/Relu', [mm(KEYS.ff[0], o, 5, [8, 16])], '/ff/relu');
  const ff = mm(KEYS.ff[1], f, 6, [16, 8]);
  const t = node('Gemm', '/time_embedding/linear_1/Gemm', ['temb', w('time_embedding.linear_1.weight', [8, 8]), w('time_embedding.linear_1.bias', [8])], '/temb/out', {
    transB: { type: 'int', value: 1 }, alpha: { type: 'float', value: 0.5 },
  });
  const t3 = node('Reshape', '/temb/Reshape', [t, c('shape_temb', Tensor.int64([3], [2, 1, 8]))], '/temb/r');
  node('Add', '/out/Add', [ff, t3], 'out_sample');
  g.outputs = [{ name: 'out_sample', dtype: 'float32', shape: [2, 36, 8] }];
  return newModel(g);
}

export function diffusersFeeds(seed = 2): Record<string, Tensor> {
  const rng = new Rng(seed);
  return {
    sample: Tensor.float32([2, 4, 6, 6], rng.normalArray(288)),
    ctx: Tensor.float32([2, 5, 8], rng.normalArray(80)),
    temb: Tensor.float32([2, 8], rng.normalArray(16)),
  };
}
