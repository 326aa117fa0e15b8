/**
 * A training run opens its pipeline folder with `openUnet: false` (train/captioned.ts): the text
 * encoder and VAE encode its captions and pictures, and the folder's UNet is only described, with
 * no ONNX Runtime session (a second copy of 3.4 GB of weights at SD-1.5 size). The parts that do
 * run must give what the fully opened pipeline gives, and sampling must fail with one line.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { loadStableDiffusion } from '../../src/runtime/sd';

const DIR = path.join(__dirname, '..', 'fixtures', 'tiny-sd');

describe('Stable Diffusion folder opened without its UNet session (training runs)', () => {
  it('encodes prompts exactly as the opened pipeline, describes the UNet, and refuses to sample in one line', async () => {
    const full = await loadStableDiffusion(DIR);
    const bare = await loadStableDiffusion(DIR, { openUnet: false });
    try {
      const a = await full.sd.encodePrompt('a red shoe');
      const b = await bare.sd.encodePrompt('a red shoe');
      assert.deepEqual(Array.from(b.embeddings), Array.from(a.embeddings));
      assert.deepEqual(b.dims, a.dims);
      assert.deepEqual(bare.sd.parts.unet.session.inputNames, full.sd.parts.unet.session.inputNames);
      assert.deepEqual(bare.sd.parts.unet.session.outputNames, full.sd.parts.unet.session.outputNames);
      await assert.rejects(bare({ prompt: 'a red shoe', steps: 2, height: 32, width: 32 }),
        (e: Error) => /tiny-sd\/unet\/model\.onnx: not opened while the UNet trains/.test(e.message) && !e.message.includes('\n'));
    } finally {
      await full.dispose();
      await bare.dispose();
    }
  });
});
