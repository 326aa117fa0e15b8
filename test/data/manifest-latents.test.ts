import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchLoader } from '../../src/data/loader';
import { encodeNpy } from '../../src/data/npy';
import { openDataset } from '../../src/data/open';
import { tempDir } from './helpers';

// manifest lines that give the noisy input itself (latents) under the model input's name.
describe('manifest:DIR data with latents instead of images', () => {
  const latents = Float32Array.from({ length: 3 * 4 * 8 * 8 }, (_, i) => Math.sin(i) * 3);
  const emb = Float32Array.from({ length: 3 * 5 * 6 }, (_, i) => Math.cos(i));
  const write = (dir: string, lines: object[]) => {
    writeFileSync(join(dir, 'latents.npy'), encodeNpy({ dtype: 'float32', shape: [3, 4, 8, 8], data: latents }));
    writeFileSync(join(dir, 'emb.npy'), encodeNpy({ dtype: 'float32', shape: [3, 5, 6], data: emb }));
    writeFileSync(join(dir, 'manifest.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
  };

  it('reads 4-channel latents under "sample" as they are (not scaled), paired with their tokens', async () => {
    const { dir, done } = tempDir();
    try {
      write(dir, [0, 1, 2].map((i) => ({ sample: `latents.npy#${i}`, encoder_hidden_states: `emb.npy#${i}` })));
      const ds = await openDataset(`manifest:${dir}`, { channels: 4, size: 8 });
      assert.equal(ds.length, 3);
      assert.equal(ds.channels, 4);
      assert.deepEqual(ds.tensors, { encoder_hidden_states: [5, 6] });
      const b = await new BatchLoader(ds, { batchSize: 3, seed: 2 }).next();
      for (let k = 0; k < 3; k++) {
        const i = b.indices[k];
        assert.deepEqual(Array.from(b.x.slice(k * 256, (k + 1) * 256)), Array.from(latents.slice(i * 256, (i + 1) * 256)), `latents of item ${i}`);
        assert.deepEqual(Array.from(b.inputs!.encoder_hidden_states.slice(k * 30, (k + 1) * 30)), Array.from(emb.slice(i * 30, (i + 1) * 30)), `tokens of item ${i}`);
      }
    } finally {
      done();
    }
  });

  it('takes the name the caller gives (DatasetRequest.sample), e.g. a model whose noisy input is "latent"', async () => {
    const { dir, done } = tempDir();
    try {
      write(dir, [{ latent: 'latents.npy#1' }]);
      const ds = await openDataset(`manifest:${dir}`, { channels: 4, size: 8, sample: 'latent' });
      const out = new Float32Array(256);
      ds.image(0, out, 0);
      assert.deepEqual(Array.from(out), Array.from(latents.slice(256, 512)));
    } finally {
      done();
    }
  });

  it('errors name the file, line and key: wrong latent shape, image and latents mixed, neither given', async () => {
    const { dir, done } = tempDir();
    try {
      const m = join(dir, 'manifest.jsonl');
      write(dir, [{ sample: 'latents.npy#0' }]);
      await assert.rejects(openDataset(`manifest:${m}`, { channels: 3, size: 8 }), {
        message: `${m}: sample: tensors are [4, 8, 8], the model takes [3, 8, 8] per image`,
      });
      write(dir, [{ sample: 'latents.npy#0' }, { image: 'a.png' }]);
      await assert.rejects(openDataset(`manifest:${m}`, { channels: 4, size: 8 }), { message: `${m}:2: gives the input as "image", line 1 as "sample"` });
      write(dir, [{ encoder_hidden_states: 'emb.npy#0' }]);
      await assert.rejects(openDataset(`manifest:${m}`, { channels: 4, size: 8 }), {
        message: `${m}:1: expected "image": "path/to/image.png", or the noisy input's tensor under its name (e.g. "sample": "latents.npy#0")`,
      });
    } finally {
      done();
    }
  });
});
