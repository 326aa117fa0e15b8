import assert from 'node:assert/strict';
import { convertChannels, fitImages, padsTo } from '../../src/data/fit';

describe('data/fit', () => {
  it('pads only when the target is at most a quarter larger', () => {
    assert.equal(padsTo(28, 28, 32), true);
    assert.equal(padsTo(28, 28, 35), true);
    assert.equal(padsTo(28, 28, 36), false);
    assert.equal(padsTo(32, 32, 32), false);
    assert.equal(padsTo(32, 32, 16), false);
  });

  it('keeps a constant image constant when resizing up and down', async () => {
    for (const size of [7, 16, 64]) {
      const b = await fitImages({ data: new Uint8Array(2 * 20 * 20).fill(77), n: 2, c: 1, h: 20, w: 20 }, { channels: 1, size }, 't');
      assert.equal(b.data.length, 2 * size * size);
      assert.ok(b.data.every((v) => v === 77));
    }
  });

  it('centre-crops a wide image before resizing (cover)', async () => {
    // 4 rows x 12 columns: columns 0-3 are 255, the centre 4..7 are 100, 8-11 are 0.
    const data = Uint8Array.from({ length: 48 }, (_, k) => [255, 100, 0][Math.floor((k % 12) / 4)]);
    const b = await fitImages({ data, n: 1, c: 1, h: 4, w: 12 }, { channels: 1, size: 2 }, 't');
    assert.deepEqual(Array.from(b.data), [100, 100, 100, 100]);
  });

  it('downsamples with antialiasing: a 1-pixel checkerboard halves to mid grey', async () => {
    const data = Uint8Array.from({ length: 64 }, (_, k) => ((k % 8) + Math.floor(k / 8)) % 2 === 0 ? 0 : 200);
    const b = await fitImages({ data, n: 1, c: 1, h: 8, w: 8 }, { channels: 1, size: 4 }, 't');
    assert.ok(b.data.every((v) => Math.abs(v - 100) <= 15), `got ${Array.from(b.data)}`);
  });

  it('converts RGB to grey by Rec. 601 luma and grey to RGB by replication', () => {
    const rgb = { data: Uint8Array.from([255, 0, 0]), n: 1, c: 3, h: 1, w: 1 };
    assert.deepEqual(Array.from(convertChannels(rgb, 1, 't').data), [76]);
    const grey = { data: Uint8Array.from([9, 8]), n: 2, c: 1, h: 1, w: 1 };
    assert.deepEqual(Array.from(convertChannels(grey, 3, 't').data), [9, 9, 9, 8, 8, 8]);
    assert.throws(() => convertChannels(rgb, 2, 'x.bin'), /x\.bin: cannot convert 3-channel images to 2 channels/);
  });
});
