import assert from 'node:assert/strict';
import { DiffusionError, OptionError } from '../../src/core/errors';
import { flagOf, inFlagTerms } from '../../src/cli/errors';

describe('cli: library errors in flag terms', () => {
  it('maps option names to the flags that set them', () => {
    assert.equal(flagOf('classes'), '--class');
    assert.equal(flagOf('overfitBatch'), '--overfit-batch');
    assert.equal(flagOf('guidance'), '--guidance');
  });

  it('rewrites a leading OptionError option and "the `x` option", and leaves other messages alone', () => {
    assert.equal(inFlagTerms(new OptionError('classes', 'given but the model is not class-conditional')), '--class given but the model is not class-conditional');
    assert.equal(inFlagTerms(new DiffusionError('m.onnx: no metadata; pass its config (the `config` option: a JSON file)')), 'm.onnx: no metadata; pass its config (--config: a JSON file)');
    assert.equal(inFlagTerms(new DiffusionError('classes are fine')), 'classes are fine');
  });
});
