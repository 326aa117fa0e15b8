import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CIFAR_RECORD } from '../../src/data/cifar10';
import { openDataset } from '../../src/data/open';
import { tempDir } from './helpers';

function records(labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * CIFAR_RECORD);
  labels.forEach((l, i) => {
    out[i * CIFAR_RECORD] = l;
    for (let k = 1; k < CIFAR_RECORD; k++) out[i * CIFAR_RECORD + k] = (k + 31 * i) % 256;
  });
  return out;
}

describe('data/cifar10', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.done());

  it('reads two records with labels, CHW pixels and class names from batches.meta.txt', async () => {
    writeFileSync(join(t.dir, 'data_batch_1.bin'), records([3, 9]));
    writeFileSync(join(t.dir, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    const ds = await openDataset(`cifar10:${t.dir}`, { channels: 3, size: 32 });
    assert.equal(ds.length, 2);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.classNames?.[9], 'j');
    assert.deepEqual([ds.label?.(0), ds.label?.(1)], [3, 9]);
    const out = new Float32Array(3072);
    ds.image(1, out, 0);
    const bytes = Array.from(out, (v) => Math.round((v + 1) * 127.5));
    assert.deepEqual(bytes, Array.from(records([0, 0]).subarray(CIFAR_RECORD + 1, 2 * CIFAR_RECORD)));
  });

  it('reads the test batch when asked, and converts to grey', async () => {
    writeFileSync(join(t.dir, 'data_batch_1.bin'), records([1, 2]));
    writeFileSync(join(t.dir, 'test_batch.bin'), records([4]));
    const test = await openDataset(`cifar10:${t.dir}:test`, { channels: 1, size: 32 });
    assert.equal(test.length, 1);
    assert.equal(test.channels, 1);
    assert.equal(test.classNames?.[0], 'airplane');
    const all = await openDataset(`cifar10:${t.dir}:all`, { channels: 3, size: 32 });
    assert.equal(all.length, 3);
  });

  it('rejects a file whose size is not a multiple of 3073', async () => {
    writeFileSync(join(t.dir, 'data_batch_1.bin'), records([1, 2]).subarray(0, 5000));
    await assert.rejects(
      openDataset(`cifar10:${t.dir}`, { channels: 3, size: 32 }),
      /data_batch_1\.bin: size 5000 is not a multiple of the CIFAR-10 record size 3073/,
    );
  });

  it('says which files it looked for in an empty folder', async () => {
    await assert.rejects(openDataset(`cifar10:${t.dir}`, { channels: 3, size: 32 }), /no CIFAR-10 binary batches found/);
  });
});
