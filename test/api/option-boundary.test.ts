import * as assert from 'node:assert/strict';
import { buildModel, createSampler, encodeModel, loadModel, loadRecipe, makeGrid, OptionError, pipeline, toRgba, train } from '../../src';
import { checkOptions, nearest } from '../../src/core/option-check';
import { checkWebLoadOptions } from '../../src/web/runtime';

/** `e` is an OptionError naming `option`, and its message matches `re`. */
function optionError(option: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OptionError, `${String(e)} is not an OptionError`);
    assert.equal(e.option, option);
    assert.match(e.message, re);
    return true;
  };
}

describe('options checked at the boundary: each listed silent acceptance is an OptionError naming the option', function () {
  this.timeout(60_000);

  it('a pipeline call: guidance -1, seed "abc", the unknown key stepz (did you mean steps), 3 classes for n 2, labels and classes: [12] on a 10-class model', async () => {
    const gen = await pipeline('fashion-mnist-class', { threads: 1 });
    try {
      await assert.rejects(gen({ guidance: -1 }), optionError('guidance', /^guidance must be >= 0, got -1$/));
      await assert.rejects(gen({ seed: 'abc' as unknown as number }), optionError('seed', /^seed must be an integer, got "abc" \(a string\)$/));
      await assert.rejects(gen({ stepz: 5 } as object), optionError('stepz', /^stepz is not an option of a pipeline call; did you mean `steps`\?$/));
      await assert.rejects(gen({ n: 2, classes: [1, 2, 3] }), optionError('classes', /^classes has 3 class ids for 2 images/));
      await assert.rejects(gen({ labels: [1, 0] }), optionError('labels', /^labels given but the model takes no labels \(it is class-conditional: pass `classes`\)$/));
      await assert.rejects(gen({ classes: [12] }), optionError('classes', /^classes ids must be integers in \[0, 9\] \(the model has 10 classes\), got 12$/));
      await assert.rejects(gen({ sampler: 'ddmi' as 'ddim' }), optionError('sampler', /got "ddmi"; did you mean `ddim`\?$/));
      // the same through createSampler and its sample(n)
      assert.throws(() => createSampler(gen.model, { stepz: 5 } as object), optionError('stepz', /not an option of createSampler; did you mean `steps`/));
      await assert.rejects(createSampler(gen.model, { classes: [1, 2, 3] }).sample(2), optionError('classes', /3 class ids for 2 images/));
    } finally {
      await gen.dispose();
    }
  });

  it('pipeline() and train(): unknown keys and bad values before anything loads or runs', async () => {
    await assert.rejects(pipeline('fashion-mnist', { thread: 1 } as object), optionError('thread', /^thread is not an option of pipeline\(\); did you mean `threads`\?$/));
    await assert.rejects(pipeline('fashion-mnist', { threads: 1.5 }), optionError('threads', /^threads must be an integer >= 1, got 1\.5$/));
    await assert.rejects(train({ stpes: 10 } as object), optionError('stpes', /^stpes is not an option of train\(\); did you mean `steps`\?$/));
    await assert.rejects(train({ lr: -1, steps: 1 }), optionError('lr', /^lr must be > 0, got -1$/));
    await assert.rejects(train({ batch: '8' as unknown as number }), optionError('batch', /must be an integer >= 1, got "8" \(a string\)/));
  });

  it('an unknown model name lists the shipped ones and the nearest', async () => {
    await assert.rejects(loadModel('fashon-mnist'), /^FileFormatError: fashon-mnist: no such file, nor a shipped model of that name \(.*fashion-mnist-class.*\); did you mean fashion-mnist\?$/);
  });

  it('toRgba and makeGrid given the wrong thing say what they take', async () => {
    const model = await loadModel(encodeModel(buildModel(loadRecipe('unet-tiny'))), { threads: 1 });
    try {
      const res = await createSampler(model, { steps: 1 }).sample(1);
      assert.throws(() => toRgba(res as unknown as Float32Array, 1, 1, 16, 16), optionError('images', /for a SampleResult, pass result\.images/));
      assert.throws(() => toRgba(res.images, 2, 1, 16, 16), optionError('images', /has 256 values, not n x c x h x w = 512/));
      assert.throws(() => makeGrid(res.images as unknown as []), optionError('images', /a Float32Array is SampleResult\.images: pass SampleResult\.rgba/));
      assert.throws(() => makeGrid(res.rgba, { scale: 0 }), optionError('scale', /^scale must be >= 1, got 0$/));
      assert.equal(makeGrid(toRgba(res.images, 1, 1, 16, 16), { border: 0 }).width, 16);
    } finally {
      await model.dispose();
    }
  });

  it('checkOptions: not an object, and "did you mean" only for near names', () => {
    assert.throws(() => checkOptions(5, {}, 'f()'), optionError('options', /^options of f\(\) must be an object, got 5$/));
    assert.equal(nearest('stepz', ['steps', 'seed']), 'steps');
    assert.equal(nearest('guidnace', ['guidance', 'steps']), 'guidance');
    assert.equal(nearest('colour', ['steps', 'seed']), undefined);
    assert.throws(() => checkOptions({ colour: 1 }, { steps: { kind: 'integer' }, seed: { kind: 'integer' } }, 'f()'),
      optionError('colour', /^colour is not an option of f\(\); known: steps, seed$/));
  });

  it("the page's loadModel options: unknown keys, the backend's name, numThreads", () => {
    assert.throws(() => checkWebLoadOptions({ backnd: 'wasm' }), optionError('backnd', /^backnd is not an option of loadModel; did you mean `backend`\?$/));
    assert.throws(() => checkWebLoadOptions({ backend: 'webgl' }), optionError('backend', /^backend must be one of wasm\|webgpu, got "webgl"$/));
    assert.throws(() => checkWebLoadOptions({ numThreads: 0 }), optionError('numThreads', /^numThreads must be >= 1, got 0$/));
    checkWebLoadOptions({ backend: 'webgpu', numThreads: 2, config: {}, wasmPaths: '/ort/' });
  });
});
