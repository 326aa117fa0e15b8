import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../../src/data/open';
import { tempDir, writeSolid } from './helpers';

const first = (ds: { image(i: number, o: Float32Array, k: number): void; channels: number; height: number; width: number }, i: number): number[] => {
  const out = new Float32Array(ds.channels * ds.height * ds.width);
  ds.image(i, out, 0);
  return Array.from({ length: ds.channels }, (_, c) => Math.round((out[c * ds.height * ds.width] + 1) * 127.5));
};

describe('data/folder', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.done());

  it('reads PNG, JPEG and WebP of mixed sizes, resized to the requested size and channels', async () => {
    await writeSolid(join(t.dir, 'a.png'), 10, 20, [255, 0, 0]);
    await writeSolid(join(t.dir, 'b.jpg'), 40, 30, [0, 0, 255]);
    await writeSolid(join(t.dir, 'c.webp'), 8, 8, [0, 255, 0]);
    writeFileSync(join(t.dir, 'notes.txt'), 'ignored');
    const ds = await openDataset(`folder:${t.dir}`, { channels: 3, size: 16 });
    assert.equal(ds.length, 3);
    assert.equal(ds.height, 16);
    assert.equal(ds.label, undefined);
    assert.deepEqual(first(ds, 0), [255, 0, 0]);
    const blue = first(ds, 1);
    assert.ok(blue[2] > 240 && blue[0] < 15, `JPEG blue came back as ${blue}`);
    const grey = await openDataset(`folder:${t.dir}`, { channels: 1, size: 8 });
    assert.equal(grey.channels, 1);
    // Rec. 601 luma of pure red is 0.299 * 255 = 76; sharp's is within a couple of levels.
    assert.ok(Math.abs(first(grey, 0)[0] - 76) <= 3, `luma of red was ${first(grey, 0)[0]}`);
  });

  it('takes class labels from sorted sub-folder names', async () => {
    await writeSolid(join(t.dir, 'zebra', '1.png'), 8, 8, [10, 10, 10]);
    await writeSolid(join(t.dir, 'ant', '1.png'), 8, 8, [20, 20, 20]);
    await writeSolid(join(t.dir, 'ant', '2.png'), 8, 8, [30, 30, 30]);
    const ds = await openDataset(`folder:${t.dir}`, { channels: 1, size: 8 });
    assert.deepEqual(ds.classNames, ['ant', 'zebra']);
    assert.equal(ds.numClasses, 2);
    assert.deepEqual([0, 1, 2].map((i) => ds.label?.(i)), [0, 0, 1]);
  });

  it('reads multi-hot labels from labels.csv', async () => {
    await writeSolid(join(t.dir, 'a.png'), 8, 8, [0, 0, 0]);
    await writeSolid(join(t.dir, 'b.png'), 8, 8, [0, 0, 0]);
    writeFileSync(join(t.dir, 'labels.csv'), 'file,smile,hat,glasses\nb.png,0,1,1\na.png,1,0,0\n');
    const ds = await openDataset(`folder:${t.dir}`, { channels: 1, size: 8 });
    assert.equal(ds.labelDim, 3);
    const out = new Float32Array(6);
    ds.multiLabel?.(0, out, 0);
    ds.multiLabel?.(1, out, 3);
    assert.deepEqual(Array.from(out), [1, 0, 0, 0, 1, 1]);
  });

  it('names the file and line of a bad labels.csv row', async () => {
    await writeSolid(join(t.dir, 'a.png'), 8, 8, [0, 0, 0]);
    writeFileSync(join(t.dir, 'labels.csv'), 'file,smile\na.png,2\n');
    await assert.rejects(openDataset(`folder:${t.dir}`, { channels: 1, size: 8 }), /labels\.csv: line 2: label 'smile' is '2', expected 0 or 1/);
    writeFileSync(join(t.dir, 'labels.csv'), 'file,smile\na.png,1,0\n');
    await assert.rejects(openDataset(`folder:${t.dir}`, { channels: 1, size: 8 }), /labels\.csv: line 2: 3 values, expected 2/);
    writeFileSync(join(t.dir, 'labels.csv'), 'file,smile\n');
    await assert.rejects(openDataset(`folder:${t.dir}`, { channels: 1, size: 8 }), /labels\.csv: no row for image 'a\.png'/);
  });

  it('fails on an empty folder', async () => {
    mkdirSync(join(t.dir, 'empty'));
    await assert.rejects(openDataset(`folder:${join(t.dir, 'empty')}`, { channels: 3, size: 8 }), /empty: no images found/);
  });

  it('names an unreadable image', async () => {
    await writeSolid(join(t.dir, 'a.png'), 8, 8, [0, 0, 0]);
    writeFileSync(join(t.dir, 'x.png'), Uint8Array.from({ length: 100 }, (_, i) => (i * 97 + 13) % 256));
    await assert.rejects(openDataset(`folder:${t.dir}`, { channels: 3, size: 8 }), (e: Error) => {
      assert.match(e.message, /x\.png: cannot decode image/);
      assert.equal(e.message.includes('\n'), false);
      return true;
    });
  });
});
