import assert from 'node:assert/strict';
import { openDataset } from '../../src/data/open';

async function all(spec: string, seed: number): Promise<Float32Array> {
  const ds = await openDataset(spec, { channels: 3, size: 16, seed });
  const per = 3 * 16 * 16;
  const out = new Float32Array(ds.length * per);
  for (let i = 0; i < ds.length; i++) ds.image(i, out, i * per);
  return out;
}

describe('data/synthetic', () => {
  it('is determined by the seed', async () => {
    assert.deepEqual(await all('synthetic:20', 7), await all('synthetic:20', 7));
    assert.notDeepEqual(await all('synthetic:20', 7), await all('synthetic:20', 8));
  });

  it('defaults to 512 images in 3 classes, all of them used, pixels in [-1, 1]', async () => {
    const ds = await openDataset('synthetic', { channels: 1, size: 12 });
    assert.equal(ds.length, 512);
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(ds.classNames, ['circle', 'square', 'triangle']);
    const seen = new Set(Array.from({ length: ds.length }, (_, i) => ds.label?.(i)));
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
    const out = new Float32Array(144);
    ds.image(3, out, 0);
    assert.ok(out.every((v) => v >= -1 && v <= 1));
    // A dark background and a bright shape.
    assert.ok(Math.min(...out) < -0.6 && Math.max(...out) > 0);
  });

  it('rejects a bad count', async () => {
    await assert.rejects(openDataset('synthetic:0', { channels: 1, size: 8 }), /synthetic:0: the image count must be a positive integer/);
  });
});
