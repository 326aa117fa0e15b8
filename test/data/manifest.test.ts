import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchLoader } from '../../src/data/loader';
import { openDataset } from '../../src/data/open';
import { tempDir } from './helpers';
import { writeTokenManifest } from './manifest-helpers';

describe('manifest:DIR data (images + per-image tensors)', () => {
  it('pairs each image with its tensor, from rows of a stacked .npy and from per-image files alike', async () => {
    const { dir, done } = tempDir();
    try {
      const tokens = await writeTokenManifest(dir, 6);
      const ds = await openDataset(`manifest:${dir}`, { channels: 3, size: 16 });
      assert.equal(ds.length, 6);
      assert.deepEqual(ds.tensors, { encoder_hidden_states: [4, 16] });
      const loader = new BatchLoader(ds, { batchSize: 6, seed: 1 });
      const b = await loader.next();
      for (let k = 0; k < 6; k++) {
        const i = b.indices[k];
        assert.deepEqual(Array.from(b.inputs!.encoder_hidden_states.slice(k * 64, (k + 1) * 64)), Array.from(tokens.slice(i * 64, (i + 1) * 64)), `image ${i}`);
      }
    } finally {
      done();
    }
  });

  it('errors name the file, line and key', async () => {
    const { dir, done } = tempDir();
    try {
      await writeTokenManifest(dir, 2);
      const m = join(dir, 'manifest.jsonl');
      const open = () => openDataset(`manifest:${m}`, { channels: 3, size: 16 });
      writeFileSync(m, '{"image": "img/0.png", "y": 1}\n{"image": "img/1.png"}\n');
      await assert.rejects(open, /manifest\.jsonl:2: keys none differ from line 1's \(y\)/);
      writeFileSync(m, '{"image": "img/0.png", "y": [1, 2]}\n{"image": "img/1.png", "y": [1]}\n');
      await assert.rejects(open, /manifest\.jsonl:2: y: shape \[1\] differs from line 1's \[2\]/);
      writeFileSync(m, '{"image": "img/0.png", "y": "tokens.npy#9"}\n');
      await assert.rejects(open, /manifest\.jsonl:1: y: .*tokens\.npy has 2 rows, no row 9/);
      writeFileSync(m, 'not json\n');
      await assert.rejects(open, /manifest\.jsonl:1: not a JSON object/);
    } finally {
      done();
    }
  });
});
