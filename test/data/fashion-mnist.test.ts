import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedFashionMnistDir, packageRoot, SYSTEM_FASHION_MNIST_DIR } from '../../src/data/fashion-mnist';
import { openDataset } from '../../src/data/open';

describe('data/fashion-mnist', () => {
  it('finds the package root by its package.json name', () => {
    assert.ok(existsSync(join(packageRoot(), 'package.json')));
    assert.equal(embeddedFashionMnistDir(), join(packageRoot(), 'models', 'fashion-mnist'));
  });

  it('opens the embedded test split: 10000 images 28x28 in 10 classes', async () => {
    const ds = await openDataset('fashion-mnist', { channels: 1, size: 28 });
    assert.equal(ds.length, 10000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.classNames?.[9], 'Ankle boot');
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < ds.length; i++) counts[ds.label?.(i) ?? -1]++;
    assert.deepEqual(counts, new Array<number>(10).fill(1000));
    // Upstream's first test image is an ankle boot (label 9).
    assert.equal(ds.label?.(0), 9);
  });

  it('pads 28x28 to 32x32 with background', async () => {
    const ds = await openDataset('fashion-mnist', { channels: 1, size: 32 });
    const out = new Float32Array(32 * 32);
    ds.image(0, out, 0);
    assert.ok(out.subarray(0, 64).every((v) => v === -1));
  });

  it('opens the full training split when the Debian package is installed', async function () {
    if (!existsSync(join(SYSTEM_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'))) this.skip();
    const ds = await openDataset('fashion-mnist:full', { channels: 1, size: 28 });
    assert.equal(ds.length, 60000);
    assert.equal(ds.numClasses, 10);
  });

  it('rejects an unknown variant', async () => {
    await assert.rejects(openDataset('fashion-mnist:bogus', { channels: 1, size: 28 }), /unknown variant/);
  });
});
