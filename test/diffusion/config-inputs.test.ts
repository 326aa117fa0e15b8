import assert from 'node:assert/strict';
import { configFromJson } from '../../src/core/model-config';
import { checkConfigInputs, resolveIo, timestepFeed, withGraphInputs, type DeclaredValue } from '../../src/diffusion/config-inputs';

const config = configFromJson({ image: { channels: 4, size: 16 } }, 'cfg.json');
const sd: DeclaredValue[] = [
  { name: 'sample', dtype: 'float32', shape: ['batch', 'channels', 'height', 'width'] },
  { name: 'timestep', dtype: 'float32', shape: ['batch'] },
  { name: 'encoder_hidden_states', dtype: 'float32', shape: ['batch', 'sequence', 768] },
];

describe('graph I/O roles and inputs as the graph declares them', () => {
  it('finds the roles by our names and diffusers\', the prediction as the only output otherwise', () => {
    assert.deepEqual(Object.values(resolveIo(config, sd, ['out_sample'], 'm')).slice(0, 3), ['sample', 'timestep', 'out_sample']);
    const ours: DeclaredValue[] = [{ name: 'x', dtype: 'float32', shape: ['N', 4, 16, 16] }, { name: 't', dtype: 'int64', shape: ['N'] }];
    const io = resolveIo(config, ours, ['y'], 'm');
    assert.deepEqual([io.sample, io.timestep, io.prediction, io.timestepFeed.dtype], ['x', 't', 'y', 'int64']);
  });

  it('asks for "roles" when names are ambiguous or unknown, naming what the graph has', () => {
    const both = [...sd, { name: 'x', dtype: 'float32', shape: ['N', 4, 16, 16] }];
    assert.throws(() => resolveIo(config, both, ['out_sample'], 'm'), /^DiffusionError: m: the graph has inputs 'x' and 'sample'; say which is the sample with "roles": \{"sample": "NAME"\} in the config$/);
    assert.throws(() => resolveIo(config, sd, ['a', 'b'], 'm'), /m: no output is the prediction \(looked for out, out_sample; outputs: a, b\)/);
    const renamed = sd.map((v) => ({ ...v, name: v.name === 'sample' ? 'latent' : v.name }));
    assert.throws(() => resolveIo(config, renamed, ['out_sample'], 'm'),
      /m: no input is the sample \(looked for x, sample; inputs: latent, timestep, encoder_hidden_states\); name it with "roles": \{"sample": "NAME"\} in the config/);
    const wrongRole = configFromJson({ image: { channels: 4, size: 16 }, roles: { sample: 'latents' } }, 'cfg.json');
    assert.throws(() => resolveIo(wrongRole, sd, ['out_sample'], 'm'),
      /^ConfigError: m: roles\.sample: is 'latents' but the graph has no input of that name \(inputs: sample, timestep, encoder_hidden_states\)$/);
    const roled = configFromJson({ image: { channels: 4, size: 16 }, roles: { prediction: 'b' } }, 'cfg.json');
    assert.equal(resolveIo(roled, sd, ['a', 'b'], 'm').prediction, 'b');
    assert.throws(() => configFromJson({ image: { channels: 4, size: 16 }, roles: { noise: 'b' } }, 'cfg.json'), /^ConfigError: cfg\.json\.roles\.noise: unknown key \(expected one of sample, timestep, prediction\)$/);
  });

  it('feeds the timestep as declared: [N], a fixed [1], or a scalar; refuses other shapes and types', () => {
    assert.deepEqual(timestepFeed({ name: 't', dtype: 'int64', shape: ['N'] }, 'm'), { dtype: 'int64', form: 'batch' });
    assert.deepEqual(timestepFeed({ name: 't', dtype: 'float16', shape: [1] }, 'm'), { dtype: 'float16', form: 'one' });
    assert.deepEqual(timestepFeed({ name: 't', dtype: 'float32', shape: [] }, 'm'), { dtype: 'float32', form: 'scalar' });
    assert.deepEqual(timestepFeed({ name: 't', dtype: 'float32', shape: [2] }, 'm'), { dtype: 'float32', form: 'batch' });
    assert.throws(() => timestepFeed({ name: 't', dtype: 'float32', shape: ['N', 1] }, 'm'), /m: timestep input 't' is float32 \[N,1\]; expected \[N\], \[1\] or a scalar/);
    assert.throws(() => timestepFeed({ name: 't', dtype: 'string', shape: ['N'] }, 'm'), /timestep input 't' is string \[N\]; expected a float or integer type/);
  });

  it('describes undescribed inputs from the graph; a config description adds meaning and must agree', () => {
    const io = resolveIo(config, sd, ['out_sample'], 'm');
    assert.deepEqual(withGraphInputs(config, io, 'm').conditioning.inputs, [{ name: 'encoder_hidden_states', dtype: 'float32', shape: ['N', 'sequence', 768], kind: 'tokens' }]);
    const given = configFromJson({ image: { channels: 4, size: 16 }, conditioning: { inputs: [{ name: 'encoder_hidden_states', dtype: 'float32', shape: ['N', 77, 768], nullValue: 0.5 }] } }, 'c');
    assert.equal(withGraphInputs(given, io, 'm').conditioning.inputs![0].nullValue, 0.5);
    const wrong = configFromJson({ image: { channels: 4, size: 16 }, inputs: { encoder_hidden_states: 'float32 [N,77,1024]' } }, 'c');
    assert.throws(() => withGraphInputs(wrong, io, 'm'), /^ConfigError: m: inputs\.encoder_hidden_states: is float32 \[N,77,1024\] but the graph declares float32 \[batch,sequence,768\]$/);
  });

  it("an undescribed input's message quotes the graph's declared shape, not a made-up one", () => {
    const io = { sample: 'sample', timestep: 'timestep', declared: Object.fromEntries(sd.map((v) => [v.name, v])) };
    assert.throws(() => checkConfigInputs(config, sd.map((v) => v.name), 'm', sd[0].shape, io),
      /m: input 'encoder_hidden_states' is not described by the config; add it to the config's "inputs" \(the graph declares float32 \[batch,sequence,768\]; e\.g\. "encoder_hidden_states": "float32 \[N,sequence,768\]"/);
    assert.throws(() => checkConfigInputs(config, ['x', 't', 'ctx'], 'm'), /input 'ctx' is not described by the config; add it to the config's "inputs" \(e\.g\. "ctx": "float32 \[N,\.\.\.\]"/);
    assert.throws(() => checkConfigInputs(config, sd.map((v) => v.name), 'm', ['batch', 3, 'h', 'w'], io), /m: image\.channels: is 4 but the graph's input 'sample' is \[batch,3,h,w\]/);
  });
});
