import assert from 'node:assert/strict';
import { openDataset } from '../../src/data/open';

describe('data/open', () => {
  it('lists the known kinds for an unknown one', async () => {
    await assert.rejects(
      openDataset('imagenet:/x', { channels: 3, size: 32 }),
      /unknown data set kind 'imagenet' in 'imagenet:\/x' \(known: fashion-mnist, synthetic, idx, cifar10, folder, paired, manifest\)/,
    );
  });

  it('asks for a path where one is needed', async () => {
    await assert.rejects(openDataset('folder', { channels: 3, size: 32 }), /data set 'folder' needs a path: folder:DIR/);
  });
});
