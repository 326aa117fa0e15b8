import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, IDX_IMAGES_MAGIC, openIdx, readIdx } from '../../src/data/idx';
import { openDataset } from '../../src/data/open';
import { tempDir } from './helpers';

describe('data/idx', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.done());

  const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 17) % 256);
  const labels = Uint8Array.from([2, 0, 1]);

  for (const gz of [false, true]) {
    it(`round-trips ${gz ? 'gzipped' : 'plain'} images and labels against the bytes written`, async () => {
      const suffix = gz ? '.gz' : '';
      const pack = (b: Uint8Array): Uint8Array => (gz ? gzipSync(b) : b);
      writeFileSync(join(t.dir, `train-images-idx3-ubyte${suffix}`), pack(encodeIdx([3, 4, 5], pixels)));
      writeFileSync(join(t.dir, `train-labels-idx1-ubyte${suffix}`), pack(encodeIdx([3], labels)));
      const raw = readIdx(join(t.dir, `train-images-idx3-ubyte${suffix}`), IDX_IMAGES_MAGIC);
      assert.deepEqual(raw.dims, [3, 4, 5]);
      assert.deepEqual(new Uint8Array(raw.data), pixels);
      const ds = await openIdx(t.dir, { channels: 1, size: 5 });
      assert.equal(ds.length, 3);
      assert.equal(ds.numClasses, 3);
      assert.deepEqual([0, 1, 2].map((i) => ds.label?.(i)), [2, 0, 1]);
    });
  }

  it('gives the exact pixels at native size, padded with -1 when asked slightly larger', async () => {
    const px = Uint8Array.from({ length: 2 * 28 * 28 }, (_, i) => i % 251);
    writeFileSync(join(t.dir, 'a-images-idx3-ubyte'), encodeIdx([2, 28, 28], px));
    const files = join(t.dir, 'a-images-idx3-ubyte');
    const native = await openDataset(`idx:${files}`, { channels: 1, size: 28 });
    const out = new Float32Array(28 * 28);
    native.image(1, out, 0);
    assert.deepEqual(Array.from(out, (v) => Math.round((v + 1) * 127.5)), Array.from(px.subarray(784)));
    assert.equal(native.label, undefined);
    const padded = await openDataset(`idx:${files}`, { channels: 3, size: 32 });
    const big = new Float32Array(3 * 32 * 32);
    padded.image(0, big, 0);
    assert.equal(big[0], -1);
    assert.equal(big[2 * 32 + 2], Math.fround(px[0] / 127.5 - 1));
    assert.equal(big[2 * 32 * 32 + 5 * 32 + 9], Math.fround(px[3 * 28 + 7] / 127.5 - 1));
    const resized = await openDataset(`idx:${files}`, { channels: 1, size: 16 });
    assert.equal(resized.height, 16);
  });

  it('rejects a bad magic number naming the file', async () => {
    const file = join(t.dir, 'bad-images-idx3-ubyte');
    writeFileSync(file, encodeIdx([3], labels));
    await assert.rejects(openIdx(file, { channels: 1, size: 4 }), (e: Error) => {
      assert.match(e.message, /bad-images-idx3-ubyte: bad magic number 0x00000801, expected 0x00000803/);
      return true;
    });
  });

  it('detects a truncated file', async () => {
    const file = join(t.dir, 'x-images-idx3-ubyte');
    writeFileSync(file, encodeIdx([3, 4, 5], pixels).subarray(0, 30));
    await assert.rejects(openIdx(file, { channels: 1, size: 4 }), /x-images-idx3-ubyte: truncated: header says 3x4x5 = 60 bytes of data, file has 14/);
    const gz = join(t.dir, 'y-images-idx3-ubyte.gz');
    writeFileSync(gz, gzipSync(encodeIdx([3, 4, 5], pixels)).subarray(0, 20));
    await assert.rejects(openIdx(gz, { channels: 1, size: 4 }), /y-images-idx3-ubyte\.gz: corrupt or truncated gzip/);
  });

  it('rejects an images/labels count mismatch', async () => {
    const im = join(t.dir, 'i-images-idx3-ubyte');
    const lb = join(t.dir, 'i-labels-idx1-ubyte');
    writeFileSync(im, encodeIdx([3, 4, 5], pixels));
    writeFileSync(lb, encodeIdx([2], labels.subarray(0, 2)));
    await assert.rejects(openIdx(`${im},${lb}`, { channels: 1, size: 4 }), /i-labels-idx1-ubyte: 2 labels for 3 images/);
  });
});
