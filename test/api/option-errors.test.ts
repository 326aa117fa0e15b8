import * as assert from 'node:assert/strict';
import { flagOf, inFlagTerms } from '../../src/cli/errors';
import { buildModel, type Device, DiffusionError, encodeModel, loadModel, loadRecipe, OptionError, pipeline } from '../../src';
import { guidedBy } from '../../src/diffusion/samplers/guidance';
import { resolveBackend, resolveThreads } from '../../src/web/runtime';
import type { Backend } from '../../src/web';

/** `p` rejects (or `f` throws) with an OptionError whose `.option` is `option` and whose message starts with it. */
function isOption(option: string) {
  return (e: unknown) => {
    assert.ok(e instanceof OptionError && e instanceof DiffusionError, `${String(e)} is not an OptionError`);
    assert.equal(e.option, option);
    assert.ok(e.message.startsWith(`${option} `), e.message);
    // the CLI names the flag instead: --strength must be in [0, 1], ...
    assert.ok(inFlagTerms(e).startsWith(`${flagOf(option)} `), inFlagTerms(e));
    return true;
  };
}

describe('option errors: a bad pipeline, sampler or runtime option throws an OptionError naming it (.option)', function () {
  this.timeout(60_000);
  const bytes = encodeModel(buildModel(loadRecipe('unet-tiny')));

  it('pipeline gen(): strength, image, n, sampler, steps, eta, spacing and latents', async () => {
    const gen = await pipeline(bytes, { threads: 1 });
    try {
      const image = new Float32Array(16 * 16);
      await assert.rejects(gen({ image, strength: 1.5, steps: 2 }), isOption('strength'));
      assert.match(inFlagTerms(await gen({ image, strength: -1 }).catch((e: Error) => e)), /^--strength must be in \[0, 1\], got -1$/);
      await assert.rejects(gen({ image: image.subarray(1), strength: 0.5, steps: 2 }), isOption('image'));
      await assert.rejects(gen({ image: { width: 8, height: 8, rgba: new Uint8Array(256) }, strength: 0.5 }), isOption('image'));
      await assert.rejects(gen({ n: 0 }), isOption('n'));
      await assert.rejects(gen({ sampler: 'lms' as 'ddim' }), isOption('sampler'));
      await assert.rejects(gen({ steps: 5000 }), isOption('steps'));
      await assert.rejects(gen({ steps: 2, sampler: 'ddim', eta: 2 }), isOption('eta'));
      await assert.rejects(gen({ steps: 2, sampler: 'euler', spacing: 'trailing' }), isOption('spacing'));
      await assert.rejects(gen({ n: 2, latents: new Float32Array(3) }), isOption('latents'));
    } finally {
      await gen.dispose();
    }
  });

  it('guidance scale, Node device and threads, web backend and numThreads', async () => {
    assert.throws(() => guidedBy(async (x) => x, 0, 0, (a) => a, NaN), isOption('guidance'));
    await assert.rejects(loadModel(bytes, { device: 'tpu' as Device }), isOption('device'));
    await assert.rejects(loadModel(bytes, { threads: 0 }), isOption('threads'));
    assert.throws(() => resolveBackend('webgl' as Backend), isOption('backend'));
    // numThreads is read only where the page is crossOriginIsolated (elsewhere WASM runs on 1 thread)
    const g = globalThis as { crossOriginIsolated?: boolean };
    g.crossOriginIsolated = true;
    try {
      assert.throws(() => resolveThreads(0), isOption('numThreads'));
    } finally {
      delete g.crossOriginIsolated;
    }
  });
});
