import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OptionError } from '../../src/core/errors';
import { buildModel, loadRecipe } from '../../src/nn';
import { decodeModel } from '../../src/onnx/proto';
import { setupFromModel } from '../../src/train/setup-from-model';
import { fixture, repoRoot } from '../helpers/paths';

describe('train: the model to fine-tune (setup-from-model.ts)', () => {
  const foreign = () => decodeModel(fs.readFileSync(fixture('torch-unet-16px.onnx')));

  it('names how the caller passes a config when the model has no metadata: Node by default, the page its own way', () => {
    assert.throws(() => setupFromModel(foreign(), 'torch.onnx'), {
      message: 'torch.onnx: the model carries no onnx-diffusion metadata; pass `config` (a JSON file) or use `recipe`',
    });
    assert.throws(() => setupFromModel(foreign(), 'torch.onnx', undefined, { noConfig: 'pass its config (the second argument of createTrainer)' }), {
      message: 'torch.onnx: the model carries no onnx-diffusion metadata; pass its config (the second argument of createTrainer)',
    });
  });

  it('takes the config given, named by configName in its errors, and refuses another prediction as an OptionError', () => {
    const config = JSON.parse(fs.readFileSync(fixture('torch-unet-16px.json'), 'utf8'));
    assert.equal(setupFromModel(foreign(), 'torch.onnx', config).config.image.size, 16);
    assert.throws(() => setupFromModel(foreign(), 'torch.onnx', { image: 1 }, { configName: 'my.json' }), /my\.json/);
    const tiny = buildModel(loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')), { seed: 1 });
    assert.throws(() => setupFromModel(tiny, 'tiny.onnx', undefined, { prediction: 'v' }), (e: unknown) => e instanceof OptionError && e.option === 'prediction'
      && e.message === 'prediction v: the model was trained to predict eps; only fresh models (`recipe`) can change it');
  });
});
