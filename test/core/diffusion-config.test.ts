import assert from 'node:assert/strict';
import { validateDiffusionConfig } from '../../src/core/diffusion-config';
import { ConfigError } from '../../src/core/errors';

describe('diffusion config', () => {
  it('fills the documented defaults', () => {
    assert.deepEqual(validateDiffusionConfig({}), {
      timesteps: 1000, schedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'eps',
    });
    assert.equal(validateDiffusionConfig(undefined).timesteps, 1000);
  });

  it('keeps given values', () => {
    const c = validateDiffusionConfig({ timesteps: 500, schedule: 'cosine', prediction: 'v', betaStart: 0.001, betaEnd: 0.01 });
    assert.deepEqual(c, { timesteps: 500, schedule: 'cosine', prediction: 'v', betaStart: 0.001, betaEnd: 0.01 });
  });

  it('names the key path of a bad schedule', () => {
    assert.throws(() => validateDiffusionConfig({ schedule: 'foo' }), (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'diffusion.schedule: expected one of linear|cosine|sigmoid|scaled-linear, got "foo"');
  });

  it('rejects unknown keys, bad timesteps, bad predictions and betas, under a custom path', () => {
    assert.throws(() => validateDiffusionConfig({ steps: 3 }, 'recipe.diffusion'), /^ConfigError: recipe\.diffusion\.steps: unknown key/);
    assert.throws(() => validateDiffusionConfig({ timesteps: 10.5 }), /diffusion\.timesteps: expected an integer >= 2, got 10\.5/);
    assert.throws(() => validateDiffusionConfig({ prediction: 'noise' }), /diffusion\.prediction: expected one of eps\|x0\|v, got "noise"/);
    assert.throws(() => validateDiffusionConfig({ betaEnd: 2 }), /diffusion\.betaEnd: expected a number in \(0, 1\), got 2/);
    assert.throws(() => validateDiffusionConfig({ betaStart: '0.1' }), /diffusion\.betaStart: expected a finite number, got "0\.1"/);
    assert.throws(() => validateDiffusionConfig({ betaStart: 0.1, betaEnd: 0.01 }), /diffusion\.betaStart: expected betaStart <= betaEnd/);
    assert.throws(() => validateDiffusionConfig([1]), /diffusion: expected an object, got an array/);
  });
});
