import assert from 'node:assert/strict';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { readModelConfig } from '../../src/core/model-config';
import { buildModel, countParams, countFlops } from '../../src/nn/model';
import { checkFeeds } from '../../src/core/feed-check';
import { loadRecipe } from '../../src/nn/recipe-file';
import { NodeSession } from '../../src/runtime/node';
import { feedsFor, recipeFiles } from './helpers';

/** Recipes small enough to run at batch 3 in a unit test (the big ones run at batch 1). */
const BIG = new Set(['unet-cifar10.json', 'unet-sr-64-128.json']);

describe('graphs/*.json recipes', () => {
  const files = recipeFiles();

  it('the repository ships the documented recipes', () => {
    const names = files.map((f) => path.basename(f));
    for (const n of ['unet-tiny', 'unet-fashion-mnist', 'unet-cifar10', 'unet-sr-64-128', 'unet-fashion-mnist-class', 'unet-sr-14-28', 'unet-fashion-mnist-14', 'unet-toy', 'unet-cold-blur', 'unet-multilabel', 'unet-img2img']) {
      assert.ok(names.includes(`${n}.json`), `${n}.json missing`);
    }
  });

  for (const file of files) {
    const name = path.basename(file);
    it(`${name} validates, builds, loads in ORT and runs with output shape = input shape`, async function () {
      this.timeout(300000);
      const recipe = loadRecipe(file);
      const model = buildModel(recipe);
      const bytes = encodeModel(model);
      const config = readModelConfig(decodeModel(bytes).metadata, name);
      assert.ok(config);
      assert.equal(config.kind, recipe.kind);
      assert.deepEqual(config.image, recipe.image);
      assert.equal(config.parameters, countParams(model));
      // Every Conv weight is applied at least once per pixel of the coarsest level (size / 2^(levels - 1))
      // and at most once per pixel of the full image: 2 MACs-to-FLOPs. FLOPs grow linearly with the batch.
      const convWeights = model.graph.nodes.filter((n) => n.opType === 'Conv').reduce((s, n) => s + model.graph.initializers.get(n.inputs[1])!.size, 0);
      const coarsest = (recipe.image.size / 2 ** (recipe.unet.mults.length - 1)) ** 2;
      const flops = countFlops(model);
      assert.ok(flops >= 2 * convWeights * coarsest, `${flops} FLOPs, below the ${2 * convWeights * coarsest} of its ${convWeights} conv weights at ${coarsest} pixels`);
      assert.equal(countFlops(model, 2), 2 * flops);
      const session = await NodeSession.create(bytes);
      try {
        const inputs = ['x', 't', 'class', 'labels', 'cond', 'aug'].filter((n) => session.inputNames.includes(n));
        assert.deepEqual([...session.inputNames].sort(), inputs.sort());
        assert.deepEqual(session.outputNames, ['out']);
        for (const n of BIG.has(name) ? [1] : [1, 3]) {
          const feeds = feedsFor(recipe, n);
          checkFeeds(config, feeds);
          const { out } = await session.run(feeds);
          assert.deepEqual(out.dims, feeds.x.dims);
          assert.ok((out.data as Float32Array).every(Number.isFinite), 'non-finite output');
        }
      } finally {
        await session.release();
      }
    });
  }
});
