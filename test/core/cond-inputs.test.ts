import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inputDims } from '../../src/core/cond-inputs';
import { checkFeeds } from '../../src/core/feed-check';
import { configFromJson, readModelConfig, validateModelConfig, writeModelConfig } from '../../src/core/model-config';
import { Tensor } from '../../src/onnx/tensor';
import { fixture } from '../helpers/paths';

const base = { image: { channels: 3, size: 16 }, diffusion: {} };

describe('conditioning inputs of any name', () => {
  it('reads the informal "dtype [dims], about" form of the fixture config and infers the kind from the rank', () => {
    const c = configFromJson(JSON.parse(readFileSync(fixture('torch-textcond-16px.json'), 'utf8')), 'textcond.json');
    assert.deepEqual(c.conditioning.inputs, [{ name: 'encoder_hidden_states', dtype: 'float32', shape: ['N', 4, 16], kind: 'tokens' }]);
    const plain = configFromJson(JSON.parse(readFileSync(fixture('torch-unet-16px.json'), 'utf8')), 'unet.json');
    assert.equal(plain.conditioning.inputs, undefined);
  });

  it('reads conditioning.inputs objects, keeps them through metadata, and rejects bad ones naming the key', () => {
    const inputs = [
      { name: 'y', dtype: 'int64', shape: ['N'], kind: 'class', nullValue: 10 },
      { name: 'context', dtype: 'float32', shape: ['batch', 'seq', 24] },
      { name: 'pooled', dtype: 'float32', shape: ['N', 8] },
    ];
    const c = configFromJson({ ...base, conditioning: { inputs } }, 'cfg.json');
    assert.deepEqual(c.conditioning.inputs?.map((i) => [i.name, i.kind, i.shape.join(',')]), [['y', 'class', 'N'], ['context', 'tokens', 'N,seq,24'], ['pooled', 'vector', 'N,8']]);
    const meta: Record<string, string> = {};
    writeModelConfig(meta, c);
    assert.deepEqual(readModelConfig(meta, 'm')!.conditioning.inputs, c.conditioning.inputs);
    const bad = (inp: unknown, re: RegExp) => assert.throws(() => validateModelConfig({ ...base, conditioning: { inputs: [inp] } }, 'cfg.json'), re);
    bad({ name: 'c', dtype: 'float16', shape: ['N', 2] }, /cfg\.json\.conditioning\.inputs\[0\]\.dtype: expected one of float32\|int64, got "float16"/);
    bad({ name: 'c', dtype: 'float32', shape: [2, 2] }, /conditioning\.inputs\[0\]\.shape\[0\]: expected the batch dim "N", got 2/);
    bad({ name: 'c', dtype: 'float32', shape: ['N', 2], kind: 'text' }, /conditioning\.inputs\[0\]\.kind: expected one of class\|vector\|tokens\|image/);
    bad({ name: 'class', dtype: 'int64', shape: ['N'] }, /'class' is a built-in input/);
  });

  it('checkFeeds names a missing input and how to give it, allows free dims, and rejects a wrong size', () => {
    const c = configFromJson({ ...base, inputs: { context: 'float32 [N,seq,24]' } }, 'cfg.json');
    const feeds = { x: Tensor.float32([2, 3, 16, 16]), t: Tensor.int64([2], [1, 2]) };
    assert.throws(() => checkFeeds(c, feeds), /^DiffusionError: context: missing input, expected float32 \[N,seq,24\]; give it with --input context=FILE\.npy/);
    assert.doesNotThrow(() => checkFeeds(c, { ...feeds, context: Tensor.float32([2, 7, 24]) }));
    assert.throws(() => checkFeeds(c, { ...feeds, context: Tensor.float32([2, 7, 12]) }), /context: expected \[N,seq,24\] \(N = 2 from x\), got \[2,7,12\]/);
    assert.deepEqual(inputDims(c.conditioning.inputs![0], 2, 2 * 7 * 24), [2, 7, 24]);
    assert.deepEqual(inputDims(c.conditioning.inputs![0], 2, 25), [25]);
  });
});
