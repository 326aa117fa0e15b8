import * as assert from 'node:assert/strict';
import { findIoRoles } from '../../src/core/io-roles';
import { configFromJson } from '../../src/core/model-config';
import { Graph, Model, newModel } from '../../src/onnx/ir';
import { DType, ONNX_DTYPE, Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { prepareForeignModel } from '../../src/train/foreign-model';
import { randTensor } from '../helpers/ort';

const config = () => configFromJson({
  image: { channels: 2, size: 3 },
  diffusion: { timesteps: 1000, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'eps' },
  inputs: { ctx: 'float32 [N,5,4]' },
}, 'config.json');

/** A denoiser as diffusers exports one: out_sample = w * sample * timestep + mean(ctx), timestep of the given dtype and shape. */
function exported(tDtype: DType, tShape: (number | string)[] = ['batch']): Model {
  const g = new Graph();
  g.inputs = [
    { name: 'sample', dtype: 'float32', shape: ['batch', 'channels', 'height', 'width'] },
    { name: 'timestep', dtype: tDtype, shape: tShape },
    { name: 'ctx', dtype: 'float32', shape: ['batch', 'sequence', 4] },
  ];
  g.outputs = [{ name: 'out_sample', dtype: 'float32', shape: ['batch', 2, 'height', 'width'] }];
  g.initializers.set('w', Tensor.float32([2, 1, 1], [0.5, -2]));
  const node = (opType: string, inputs: string[], out: string, attrs = {}) => g.nodes.push({ name: out, opType, domain: '', inputs, outputs: [out], attrs });
  node('Cast', ['timestep'], 'tf', { to: { type: 'int', value: ONNX_DTYPE.float32 } });
  // timesteps.expand(sample.shape[0]) as the export writes it, then [:, None, None, None].
  node('Shape', ['sample'], 'shp');
  node('Gather', ['shp', 'zero'], 'n0', { axis: { type: 'int', value: 0 } });
  node('Unsqueeze', ['n0', 'zero1'], 'n');
  node('Expand', ['tf', 'n'], 'te');
  node('Reshape', ['te', 'r4'], 't4');
  node('Mul', ['sample', 't4'], 'st');
  node('Mul', ['st', 'w'], 'sw');
  node('ReduceMean', ['ctx'], 'cm', { keepdims: { type: 'int', value: 0 } });
  node('Add', ['sw', 'cm'], 'out_sample');
  g.initializers.set('zero', Tensor.int64([], [0]));
  g.initializers.set('zero1', Tensor.int64([1], [0]));
  g.initializers.set('r4', Tensor.int64([4], [-1, 1, 1, 1]));
  return newModel(g);
}

async function run(m: Model, feeds: Record<string, Tensor>): Promise<Tensor> {
  const s = await NodeSession.create(m);
  try {
    return Object.values(await s.run(feeds))[0];
  } finally {
    await s.release();
  }
}

describe('train: foreign exports made ready for the step graph (foreign-model.ts, io-roles.ts)', () => {
  it('finds the roles by the names diffusers, optimum and this project use, or an explicit mapping', () => {
    const io = (inputs: string[], outputs: string[]) => ({ inputs: inputs.map((name) => ({ name })), outputs: outputs.map((name) => ({ name })) });
    assert.deepEqual(findIoRoles(io(['sample', 'timestep', 'encoder_hidden_states'], ['out_sample'])), {
      sample: 'sample', timestep: 'timestep', prediction: 'out_sample', conditioning: ['encoder_hidden_states'],
    });
    assert.deepEqual(findIoRoles(io(['x', 't', 'class'], ['out'])), { sample: 'x', timestep: 't', prediction: 'out', conditioning: ['class'] });
    assert.deepEqual(findIoRoles(io(['z', 'sigma'], ['y']), { sample: 'z', timestep: 'sigma' }), { sample: 'z', timestep: 'sigma', prediction: 'y', conditioning: [] });
    assert.throws(() => findIoRoles(io(['z', 'timestep'], ['y']), {}, 'm.onnx'), { message: 'm.onnx: no sample input (named x or sample or noisy_sample or latent_model_input); the inputs are z, timestep' });
    assert.throws(() => findIoRoles(io(['z', 'timestep'], ['y']), { sample: 'q' }, 'm.onnx'), { message: "m.onnx: the sample is mapped to 'q', which the graph does not have (z, timestep)" });
  });

  for (const dtype of ['float32', 'int64', 'float16', 'int32'] as DType[]) {
    it(`a ${dtype} timestep [batch] is fed from the int64 t the trainer draws: the prepared graph equals the export in ORT`, async () => {
      const m = exported(dtype);
      const p = prepareForeignModel(m, config(), 2, 'unet.onnx');
      assert.deepEqual(p.model.graph.inputs.map((i) => `${i.name} ${i.dtype} [${i.shape}]`), ['x float32 [2,2,3,3]', 't int64 [2]', 'ctx float32 [2,5,4]']);
      assert.ok(!p.model.graph.nodes.some((n) => n.opType === 'Shape'), 'the shape subgraph folded');
      const sample = randTensor([2, 2, 3, 3], 1);
      const ctx = randTensor([2, 5, 4], 2);
      const want = await run(m, { sample, timestep: Tensor.from(dtype, [2], [3, 7]), ctx });
      const got = await run(p.model, { x: sample, t: Tensor.int64([2], [3, 7]), ctx });
      assert.deepEqual(got.toNumbers(), want.toNumbers());
      // The model as exported is untouched.
      assert.deepEqual(m.graph.inputs.map((i) => i.name), ['sample', 'timestep', 'ctx']);
    });
  }

  it('refuses, naming the file and input: a timestep of one value, a free dim the config does not size', () => {
    assert.throws(() => prepareForeignModel(exported('float32', [1]), config(), 2, 'unet.onnx'), {
      message: "unet.onnx: the timestep 'timestep' is declared [1]; training feeds one timestep per sample ([2])",
    });
    const c = config();
    c.conditioning.inputs = undefined;
    assert.throws(() => prepareForeignModel(exported('float32'), c, 2, 'unet.onnx'), {
      message: 'unet.onnx: input \'ctx\' has a free dim \'sequence\' ([N,sequence,4]); give its size in the config (e.g. "inputs": {"ctx": "float32 [N,77,768]"})',
    });
  });
});
