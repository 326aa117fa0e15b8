import assert from 'node:assert/strict';
import { BatchLoader, type Batch } from '../../src/data/loader';
import { MemoryDataset } from '../../src/data/memory';
import { openDataset } from '../../src/data/open';

/** 10 images 1x2x3 whose pixels encode the index, labels = index % 3, cond = the image. */
function tiny(): MemoryDataset {
  const n = 10;
  const images = Uint8Array.from({ length: n * 6 }, (_, k) => Math.floor(k / 6) * 20 + (k % 6));
  return new MemoryDataset({
    name: 'tiny', length: n, channels: 1, height: 2, width: 3, images,
    labels: Int32Array.from({ length: n }, (_, i) => i % 3), numClasses: 3,
    condImages: images.slice(), condChannels: 1,
  });
}

async function take(l: BatchLoader, k: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < k; i++) out.push(await l.next());
  return out;
}

describe('data/loader', () => {
  it('gives the same batches for the same seed and different ones for another', async () => {
    const a = await take(new BatchLoader(tiny(), { batchSize: 4, seed: 1, flip: true }), 8);
    const b = await take(new BatchLoader(tiny(), { batchSize: 4, seed: 1, flip: true }), 8);
    const c = await take(new BatchLoader(tiny(), { batchSize: 4, seed: 2, flip: true }), 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.map((x) => x.indices), c.map((x) => x.indices));
  });

  it('visits every example once per epoch, continuing across the epoch boundary', async () => {
    const l = new BatchLoader(tiny(), { batchSize: 4, seed: 3 });
    const idx = (await take(l, 5)).flatMap((b) => Array.from(b.indices));
    assert.deepEqual([...idx.slice(0, 10)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([...idx.slice(10, 20)].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(idx.slice(0, 10), idx.slice(10, 20));
    assert.equal(l.getState().epoch, 1);
    assert.equal(l.getState().index, 10);
  });

  it('fills labels and cond, and a batch larger than the data set', async () => {
    const [b] = await take(new BatchLoader(tiny(), { batchSize: 13, seed: 0 }), 1);
    assert.equal(b.x.length, 13 * 6);
    assert.deepEqual(Array.from(b.labels ?? []), Array.from(b.indices, (i) => i % 3));
    assert.deepEqual(b.cond, b.x);
    for (let k = 0; k < 13; k++) assert.equal(b.x[6 * k], Math.fround((b.indices[k] * 20) / 127.5 - 1));
  });

  it('resumes from a saved state with exactly the same batches, despite prefetching', async () => {
    const ds = tiny();
    const full = await take(new BatchLoader(ds, { batchSize: 3, seed: 9, flip: true }), 12);
    const first = new BatchLoader(ds, { batchSize: 3, seed: 9, flip: true });
    await take(first, 5);
    const saved = JSON.parse(JSON.stringify(first.getState()));
    const resumed = new BatchLoader(ds, { batchSize: 3, seed: 12345, flip: true });
    resumed.setState(saved);
    assert.deepEqual(await take(resumed, 7), full.slice(5));
    assert.deepEqual(await take(first, 7), full.slice(5));
  });

  it('flips horizontally, about half the time, images and cond alike', async () => {
    const ds = tiny();
    const l = new BatchLoader(ds, { batchSize: 10, seed: 4, flip: true });
    let flipped = 0;
    for (const b of await take(l, 10)) {
      for (let k = 0; k < b.size; k++) {
        const ref = new Float32Array(6);
        ds.image(b.indices[k], ref, 0);
        const got = Array.from(b.x.subarray(k * 6, k * 6 + 6));
        const mirrored = [ref[2], ref[1], ref[0], ref[5], ref[4], ref[3]];
        if (got.every((v, j) => v === mirrored[j])) flipped++;
        else assert.deepEqual(got, Array.from(ref));
        assert.deepEqual(Array.from(b.cond?.subarray(k * 6, k * 6 + 6) ?? []), got);
      }
    }
    assert.ok(flipped > 30 && flipped < 70, `flipped ${flipped} of 100`);
  });

  it('returns the same fixed batch in overfit mode', async () => {
    const l = new BatchLoader(await openDataset('synthetic:32', { channels: 1, size: 8 }), { batchSize: 8, seed: 0, flip: true });
    l.overfitBatch(5);
    const [a, b, c] = await take(l, 3);
    assert.equal(a.size, 5);
    assert.deepEqual(a, b);
    assert.deepEqual(b, c);
    a.x[0] = 42;
    assert.notEqual((await l.next()).x[0], 42);
  });

  it('serves overlapping next() calls in order', async () => {
    const serial = await take(new BatchLoader(tiny(), { batchSize: 4, seed: 5 }), 3);
    const l = new BatchLoader(tiny(), { batchSize: 4, seed: 5 });
    assert.deepEqual(await Promise.all([l.next(), l.next(), l.next()]), serial);
  });

  it('rejects a bad batch size', () => {
    assert.throws(() => new BatchLoader(tiny(), { batchSize: 0, seed: 0 }), /batch size must be a positive integer, got 0/);
  });
});
