import { Value } from '../../src/onnx/builder';
import { InputGradient, WeightGradient } from '../../src/autodiff';
import { checkGradient } from './fd';

describe('autodiff conv rules', () => {
  const convCases: { name: string; x: number[]; w: number[]; o: { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number } }[] = [
    { name: 'stride 1, pads 1', x: [2, 3, 6, 6], w: [4, 3, 3, 3], o: { pads: [1, 1, 1, 1] } },
    { name: 'stride 2, pads 1 (even size)', x: [2, 3, 8, 8], w: [4, 3, 3, 3], o: { strides: [2, 2], pads: [1, 1, 1, 1] } },
    { name: 'stride 2, odd size (output_padding needed)', x: [2, 3, 7, 6], w: [4, 3, 3, 3], o: { strides: [2, 2], pads: [1, 0, 1, 1] } },
    { name: 'dilation 2', x: [1, 2, 7, 7], w: [3, 2, 3, 3], o: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
    { name: 'groups 2', x: [2, 4, 5, 5], w: [6, 2, 3, 3], o: { group: 2, pads: [1, 1, 1, 1] } },
    { name: 'groups 2, stride 2, 1x1 kernel', x: [2, 4, 5, 5], w: [4, 2, 1, 1], o: { group: 2, strides: [2, 2] } },
    { name: 'no padding (valid)', x: [2, 3, 6, 5], w: [2, 3, 3, 3], o: {} },
    { name: 'asymmetric pads', x: [2, 2, 5, 6], w: [3, 2, 3, 3], o: { pads: [0, 2, 1, 1] } },
    { name: 'pointwise 1x1', x: [2, 3, 4, 4], w: [5, 3, 1, 1], o: {} },
    { name: 'fewer outputs than inputs, pads 1', x: [2, 5, 6, 6], w: [2, 5, 3, 3], o: { pads: [1, 1, 1, 1] } },
    { name: 'fewer outputs than inputs, asymmetric pads, 3x2 kernel', x: [2, 4, 5, 6], w: [3, 4, 3, 2], o: { pads: [0, 1, 2, 0] } },
    { name: 'fewer outputs than inputs, dilation 2', x: [1, 4, 7, 7], w: [2, 4, 3, 3], o: { dilations: [2, 2], pads: [2, 1, 1, 2] } },
    { name: 'fewer outputs than inputs, valid', x: [2, 4, 6, 5], w: [2, 4, 3, 3], o: {} },
    { name: 'fewer outputs than inputs, stride 2', x: [2, 4, 7, 6], w: [2, 4, 3, 3], o: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  ];
  const variants: [WeightGradient, InputGradient][] = [
    ['shift-matmul', 'conv-flipped'], ['unfold-matmul', 'conv-flipped'], ['unfold-smaller', 'conv-flipped'], ['slice-gemm', 'conv-flipped'], ['conv-transposed', 'conv-transpose'],
  ];
  for (const [wg, ig] of variants) {
    for (const c of convCases) {
      it(`Conv gradient matches finite differences with ${c.name} (${wg} weight gradient, ${ig} input gradient)`, async () => {
        const conv = { weightGradient: wg, inputGradient: ig };
        await checkGradient({ inputs: { x: c.x, w: c.w, bias: [c.w[0]] }, build: (b, v) => b.conv(v.x, v.w, v.bias, c.o), conv });
      });
    }
  }
  it('Conv gradient (unfold-matmul, flipped-kernel input gradient) matches finite differences with a symbolic batch and stride 1', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 2, 5, 5], dims: [3, 2, 5, 5] }, w: [3, 2, 3, 3] }, build: (b, v) => b.conv(v.x, v.w, null, { pads: [1, 1, 1, 1] }) });
  });
  it('Conv gradient matches finite differences with a symbolic batch', async () => {
    await checkGradient({ inputs: { x: { shape: ['N', 2, 6, 6], dims: [2, 2, 6, 6] }, w: [3, 2, 3, 3] }, build: (b, v) => b.conv(v.x, v.w, null, { strides: [2, 2], pads: [1, 1, 1, 1] }) });
  });
  it('ConvTranspose gradient (shift-matmul weight gradient) matches finite differences with dilation 2 and asymmetric pads', async () => {
    await checkGradient({
      inputs: { x: [2, 3, 4, 5], w: [3, 2, 3, 3] },
      build: (b, v): Value => b.convTranspose(v.x, v.w, null, { dilations: [2, 1], pads: [1, 0, 2, 1] }),
      conv: { weightGradient: 'shift-matmul' },
    });
  });
  for (const wg of ['unfold-matmul', 'shift-matmul', 'unfold-smaller'] as const) {
    it(`Conv gradient (${wg} over batch chunks of 2, the last one short) matches finite differences with pads 1`, async () => {
      await checkGradient({
        inputs: { x: [5, 4, 5, 4], w: [3, 4, 3, 3] },
        build: (b, v) => b.conv(v.x, v.w, null, { pads: [1, 1, 1, 1] }),
        conv: { weightGradient: wg, weightGradChunk: 2 },
      });
    });
  }
  it('ConvTranspose input gradient matches finite differences with stride 2 and output_padding 1', async () => {
    await checkGradient({
      inputs: { x: [2, 4, 3, 3], w: [4, 3, 3, 3], bias: [3] },
      build: (b, v) => b.convTranspose(v.x, v.w, v.bias, { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }),
    });
  });
  it('Conv gradient (unfold-smaller, fewer outputs than inputs) matches finite differences with a symbolic batch', async () => {
    await checkGradient({
      inputs: { x: { shape: ['N', 4, 5, 5], dims: [3, 4, 5, 5] }, w: [2, 4, 3, 3] },
      build: (b, v) => b.conv(v.x, v.w, null, { pads: [1, 1, 1, 1] }),
      conv: { weightGradient: 'unfold-smaller' },
    });
  });
  it('ConvTranspose gradient (unfold-smaller weight gradient) matches finite differences with more inputs than outputs', async () => {
    await checkGradient({
      inputs: { x: [2, 2, 4, 5], w: [2, 4, 3, 3] },
      build: (b, v): Value => b.convTranspose(v.x, v.w, null, { pads: [1, 0, 1, 1] }),
      conv: { weightGradient: 'unfold-smaller' },
    });
  });
  it('ConvTranspose gradient matches finite differences with groups 2 and stride 1', async () => {
    await checkGradient({
      inputs: { x: [2, 4, 4, 4], w: [4, 1, 3, 3] },
      build: (b, v): Value => b.convTranspose(v.x, v.w, null, { group: 2, pads: [1, 1, 1, 1] }),
    });
  });
});
