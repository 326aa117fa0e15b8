import * as assert from 'node:assert/strict';
import { Graph } from '../../src/onnx/ir';
import { batchThatFits, checkStepMemory, estimateStepMemory, WASM_HEAP_BYTES } from '../../src/train/step-memory';

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
});
