/**
 * The model config is parsed once (setup-from-model.ts) and passed down: LoRA insertion writes the
 * setup's config, not a re-parse of the metadata, and leaves the setup it is given as it was.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { readModelConfig } from '../../src/core/model-config';
import { buildModel, loadRecipe } from '../../src/nn';
import { loraSpecOf } from '../../src/nn/lora';
import { applyLora } from '../../src/train/lora';
import { setupFromModel } from '../../src/train/setup-from-model';
import { repoRoot } from '../helpers/paths';

const tiny = () => buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 });

describe('train: the model config parsed once and passed down (setup-from-model.ts, lora.ts)', () => {
  it('setupFromModel takes the config its caller parsed (metadataConfig) and leaves that object as it was', () => {
    const model = tiny();
    const parsed = readModelConfig(model.metadata, 'tiny.onnx')!;
    const passed = { ...parsed, sampling: { sampler: 'ddim', steps: 7 } };
    const before = structuredClone(passed);
    const setup = setupFromModel(model, 'tiny.onnx', undefined, { metadataConfig: passed });
    assert.deepEqual(setup.config.sampling, { sampler: 'ddim', steps: 7 }, 'the passed config, not a re-parse of the metadata');
    assert.notEqual(setup.config, passed);
    assert.deepEqual(passed, before);
    assert.throws(() => setupFromModel(model, 'tiny.onnx', undefined, { metadataConfig: null }), /^DiffusionError: tiny\.onnx: the model carries no onnx-diffusion metadata/);
  });

  it("applyLora writes the setup's parsed config (plus the spec) into the adapted model and does not mutate the setup it is given", () => {
    const setup = setupFromModel(tiny(), 'tiny.onnx');
    // A config that differs from the metadata: what lands in the LoRA model shows which one was used.
    const given = { ...setup, config: { ...setup.config, sampling: { sampler: 'euler', steps: 9 } } };
    const snapshot = {
      config: structuredClone(given.config), metadata: { ...given.model.metadata },
      inits: [...given.model.graph.initializers.keys()], nodes: given.model.graph.nodes.length, trainModel: given.trainModel,
    };
    const { setup: adapted, lora } = applyLora(given, { lora: { rank: 2 }, seed: 3 });
    assert.ok(lora && lora.rank === 2 && lora.targets.length > 0);
    const written = readModelConfig(adapted.model.metadata, 'adapted')!;
    assert.deepEqual(written.sampling, { sampler: 'euler', steps: 9 });
    assert.deepEqual(written.lora, lora);
    assert.deepEqual(loraSpecOf(adapted.model), lora);
    assert.deepEqual(adapted.config, { ...given.config, lora });
    // the given setup: same config, same metadata, same graph, same trainModel object
    assert.deepEqual(given.config, snapshot.config);
    assert.equal(given.config.lora, undefined);
    assert.deepEqual(given.model.metadata, snapshot.metadata);
    assert.deepEqual([...given.model.graph.initializers.keys()], snapshot.inits);
    assert.equal(given.model.graph.nodes.length, snapshot.nodes);
    assert.equal(given.trainModel, snapshot.trainModel);
    assert.ok(adapted.model.graph.nodes.length > snapshot.nodes);
  });
});
