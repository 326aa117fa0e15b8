import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveModelName, resolveRecipePath, shippedModels, shippedRecipes } from '../../src/core/node/package-files';
import { loadRecipe } from '../../src/nn';
import { repoRoot } from '../helpers/paths';

describe('package files: shipped recipes and models by name, from any working directory', () => {
  const cwd = process.cwd();
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-pkgfiles-'));
    process.chdir(tmp);
  });
  after(() => {
    process.chdir(cwd);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("'unet-tiny', 'unet-tiny.json' and 'graphs/unet-tiny.json' resolve to the shipped recipe outside the repository", () => {
    const shipped = path.join(repoRoot(), 'graphs', 'unet-tiny.json');
    for (const arg of ['unet-tiny', 'unet-tiny.json', 'graphs/unet-tiny.json', './graphs/unet-tiny.json']) assert.equal(resolveRecipePath(arg), shipped, arg);
    assert.equal(loadRecipe('unet-tiny').image.size, 16);
    assert.ok(shippedRecipes().includes('unet-fashion-mnist'));
  });

  it('an existing file wins over a shipped name, and an unknown name lists the shipped ones', () => {
    fs.writeFileSync(path.join(tmp, 'unet-tiny'), '{}');
    assert.equal(resolveRecipePath('unet-tiny'), 'unet-tiny');
    fs.rmSync(path.join(tmp, 'unet-tiny'));
    assert.throws(() => resolveRecipePath('unet-nope'), /^FileFormatError: unet-nope: no such file, nor a shipped recipe of that name \(.*unet-tiny.*\)$/);
    assert.equal(resolveRecipePath('../x/unet-tiny.json'), '../x/unet-tiny.json');
    assert.throws(() => loadRecipe('../x/unet-tiny.json'), /no such file \(cannot read recipe\)/);
  });

  it('a model name resolves to models/<name>/model.onnx of the package; an unknown bare name lists the shipped ones; paths stay as given', () => {
    assert.ok(shippedModels().includes('fashion-mnist-classifier'));
    assert.equal(resolveModelName('fashion-mnist-classifier'), path.join(repoRoot(), 'models', 'fashion-mnist-classifier', 'model.onnx'));
    // issue 27: a bare name that is neither a file nor shipped lists the shipped ones (and the nearest)
    assert.throws(() => resolveModelName('not-shipped'), /^FileFormatError: not-shipped: no such file, nor a shipped model of that name \(fashion-mnist, .*\)$/);
    assert.throws(() => resolveModelName('fashion-mnist-clas'), /; did you mean fashion-mnist-class\?$/);
    assert.equal(resolveModelName('runs/x/model.onnx'), 'runs/x/model.onnx');
    const root = path.join(tmp, 'pkg');
    fs.mkdirSync(path.join(root, 'models', 'toy'), { recursive: true });
    fs.writeFileSync(path.join(root, 'models', 'toy', 'model.onnx'), '');
    assert.equal(resolveModelName('toy', root), path.join(root, 'models', 'toy', 'model.onnx'));
  });
});
