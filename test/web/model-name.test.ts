import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DiffusionError } from '../../src/core/errors';
import { createTrainer, pipeline } from '../../src/web';
import { rejectModelName } from '../../src/web/runtime';
import { repoRoot } from '../helpers/paths';

describe('web entry: a shipped model name (which only Node resolves) fails with the file to serve', () => {
  const served = (message: string) => path.join(repoRoot(), message.match(/serve node_modules\/onnx-diffusion\/(\S+)/)![1]);

  it("pipeline('fashion-mnist') rejects, before any fetch, naming node_modules/onnx-diffusion/models/fashion-mnist/model.onnx", async () => {
    const message = 'fashion-mnist: model names resolve only in Node; in a page, serve ' +
      'node_modules/onnx-diffusion/models/fashion-mnist/model.onnx (or model.fp16.onnx) and pass its URL';
    await assert.rejects(pipeline('fashion-mnist'), (e: unknown) => e instanceof DiffusionError && e.message === message);
    await assert.rejects(createTrainer('fashion-mnist'), (e: unknown) => e instanceof DiffusionError && e.message === message);
    assert.ok(fs.existsSync(served(message)) && fs.existsSync(path.join(repoRoot(), 'models', 'fashion-mnist', 'model.fp16.onnx')));
  });

  it('a .fp16 name names the half-stored file; URLs and file names pass through', () => {
    assert.throws(() => rejectModelName('fashion-mnist.fp16'), (e: unknown) => e instanceof DiffusionError &&
      e.message.includes('serve node_modules/onnx-diffusion/models/fashion-mnist/model.fp16.onnx and pass its URL') && fs.existsSync(served(e.message)));
    for (const url of ['model.onnx', './fashion-mnist', 'models/fashion-mnist/model.onnx', 'https://example.org/m.onnx', 'blob:abc']) {
      assert.doesNotThrow(() => rejectModelName(url), url);
    }
  });
});
