import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDataset } from '../../src/data/open';
import { tempDir, writeSolid } from './helpers';

describe('data/paired', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.done());

  it('pairs cond/ and target/ images by name', async () => {
    await writeSolid(join(t.dir, 'target', 'a.png'), 8, 8, [255, 255, 255]);
    await writeSolid(join(t.dir, 'target', 'b.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'cond', 'a.png'), 12, 12, [0, 0, 0]);
    await writeSolid(join(t.dir, 'cond', 'b.webp'), 8, 8, [255, 255, 255]);
    const ds = await openDataset(`paired:${t.dir}`, { channels: 3, size: 8, condChannels: 1 });
    assert.equal(ds.length, 2);
    assert.equal(ds.condChannels, 1);
    const x = new Float32Array(3 * 64);
    const c = new Float32Array(64);
    ds.image(0, x, 0);
    ds.cond?.(0, c, 0);
    assert.equal(x[0], 1);
    assert.equal(c[0], -1);
    ds.cond?.(1, c, 0);
    assert.equal(c[0], 1);
  });

  it('rejects a target without a condition image, naming it', async () => {
    await writeSolid(join(t.dir, 'target', 'a.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'target', 'b.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'cond', 'a.png'), 8, 8, [0, 0, 0]);
    await assert.rejects(openDataset(`paired:${t.dir}`, { channels: 3, size: 8 }), /target[/\\]b\.png: no matching condition image/);
  });

  it('rejects a condition image without a target', async () => {
    await writeSolid(join(t.dir, 'target', 'a.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'cond', 'a.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'cond', 'z.png'), 8, 8, [0, 0, 0]);
    await assert.rejects(openDataset(`paired:${t.dir}`, { channels: 3, size: 8 }), /cond[/\\]z\.png: no matching target image/);
  });
});
