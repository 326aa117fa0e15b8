import * as assert from 'node:assert/strict';
import { Graph } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { insertLora, LORA_TRAINABLE } from '../../src/nn/lora';
import { newModel } from '../../src/onnx/ir';
import { batchThatFits, checkStepMemory, estimateStepMemory, estimateWeightMemory, WASM_HEAP_BYTES } from '../../src/train/step-memory';

/** x [B, 256] -> a = Relu(x) -> b = Relu(a) -> out = ReduceSum(b): at most two [B, 256] values live at once besides x. */
function chain(batch: number): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', shape: [batch, 256] }];
  g.nodes = [
    { opType: 'Relu', name: 'r1', inputs: ['x'], outputs: ['a'], attrs: {} },
    { opType: 'Relu', name: 'r2', inputs: ['a'], outputs: ['b'], attrs: {} },
    { opType: 'Relu', name: 'r3', inputs: ['b'], outputs: ['c'], attrs: {} },
    { opType: 'ReduceSum', name: 's', inputs: ['c'], outputs: ['out'], attrs: { keepdims: 0 } },
  ];
  g.outputs = [{ name: 'out', dtype: 'float32', shape: [] }];
  return g;
}

describe('train: step memory estimate (step-memory.ts)', () => {
  it('counts the values alive at once, freeing each after its last use, with the overhead factor', () => {
    const m = estimateStepMemory(chain(8), 8, ['x']);
    const tensor = 8 * 256 * 4;
    // Peak: x plus a node's input and output (a is freed after r2, b after r3): three tensors.
    assert.equal(m.bytes, 3 * tensor * 1.25);
    assert.equal(m.perImage, (3 * tensor * 1.25) / 8);
  });

  it('names the batch that fits and refuses in one line', () => {
    const m = estimateStepMemory(chain(64), 64, ['x'], 1000);
    const fit = batchThatFits(m, m.bytes / 2);
    assert.ok(fit >= 31 && fit <= 32, `fit ${fit}`);
    assert.throws(() => checkStepMemory(m, m.bytes / 2, 'tiny.onnx'), /^DiffusionError: tiny\.onnx: a training step at batch 64 needs about [\d.]+ GiB, more than the [\d.]+ GiB allowed \(memoryLimit\); batch 3[12] would fit$/);
    assert.doesNotThrow(() => checkStepMemory(m, WASM_HEAP_BYTES, 'tiny.onnx'));
  });

  it('weights: frozen ones counted once, gradients and optimizer state for the trainable ones only', () => {
    // out = x @ W (W [64, 32]) + a shape constant: a full fine-tune holds W 12 times; LoRA rank 2 holds W once and A, B 12 times.
    const g = new Graph();
    g.inputs = [{ name: 'x', dtype: 'float32', shape: [4, 64] }];
    g.initializers.set('W', Tensor.float32([64, 32]));
    g.initializers.set('shape', Tensor.int64([2], [4, 32]));
    g.nodes = [{ opType: 'MatMul', name: '/proj/to_q/MatMul', inputs: ['x', 'W'], outputs: ['y'], attrs: {} }, { opType: 'Reshape', name: 'r', inputs: ['y', 'shape'], outputs: ['out'], attrs: {} }];
    g.outputs = [{ name: 'out', dtype: 'float32', shape: [4, 32] }];
    const W = 64 * 32 * 4;
    assert.deepEqual(estimateWeightMemory(g, undefined, 12), { frozenBytes: 16, trainableBytes: W, bytes: 16 + 12 * W });
    const lora = insertLora(newModel(g), { rank: 2, targets: '*to_q*' }).graph;
    const AB = (2 * 64 + 32 * 2) * 4;
    const m = estimateWeightMemory(lora, LORA_TRAINABLE, 12);
    assert.deepEqual(m, { frozenBytes: 16 + W + 4, trainableBytes: AB, bytes: 16 + W + 4 + 12 * AB }); // + 4: the scale constant
    assert.deepEqual(estimateWeightMemory(g, '!W', 12), { frozenBytes: 16 + W, trainableBytes: 0, bytes: 16 + W });
  });
});
