import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { openDataset } from '../../src/data/open';
import { Rng } from '../../src/core/rng';
import { fitImages } from '../../src/data/fit';
import { FeatureNet } from '../../src/eval/feature-net';
import { fromByte, toUint8 } from '../../src/image/pixels';
import { predictedClasses } from '../../src/eval/scores';
import { cli } from '../helpers/cli';

const N = 120;

/** N test-split images and N uniform-noise images as 28x28 grey PNGs in two folders. */
async function writeFolders(dir: string): Promise<{ real: string; noise: string }> {
  const data = await openDataset('fashion-mnist', { channels: 1, size: 28 });
  const real = path.join(dir, 'real');
  const noise = path.join(dir, 'noise');
  fs.mkdirSync(real);
  fs.mkdirSync(noise);
  const x = new Float32Array(784);
  const rng = new Rng(9);
  for (let i = 0; i < N; i++) {
    data.image(i * 50, x, 0);
    const px = Buffer.from(Array.from(x, (v) => Math.round((v + 1) * 127.5)));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(real, `${i}.png`));
    const rnd = Buffer.from(Array.from({ length: 784 }, () => Math.floor(rng.uniform() * 256)));
    await sharp(rnd, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(noise, `${i}.png`));
  }
  return { real, noise };
}

describe('evaluate: the shipped classifier and the CLI', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evaluate-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the shipped classifier loads and classifies test-split images far above chance', async () => {
    const net = await FeatureNet.load();
    const data = await openDataset('fashion-mnist', net.config.image);
    const idx = Int32Array.from({ length: 200 }, (_, i) => i * 37);
    const e = await net.embedDataset(data, idx);
    await net.release();
    const pred = predictedClasses(e.probs, e.n, e.k);
    const acc = pred.filter((p, i) => p === data.label!(idx[i])).length / e.n;
    assert.equal(e.d, net.config.features);
    assert.ok(acc > 0.8, `accuracy ${acc} on 200 test images (chance 0.1)`);
  });

  it('32 px images of padded 28 px data are cropped back, not shrunk: they embed as the originals do', async () => {
    // A model trained on fashion-mnist at size 32 learns the loader's padded frame, so its samples
    // are the 28 px picture on a 2 px border. The evaluator must see the picture the data had.
    const net = await FeatureNet.load();
    const small = await openDataset('fashion-mnist', { channels: 1, size: 28 });
    const padded = await openDataset('fashion-mnist', { channels: 1, size: 32 });
    const idx = Int32Array.from({ length: 64 }, (_, i) => i * 101);
    const a = await net.embedDataset(small, idx);
    const b = await net.embedDataset(padded, idx);
    // The same images shrunk 32 -> 28 (what the evaluator did before) land elsewhere in feature space.
    const per = 32 * 32;
    const x = new Float32Array(idx.length * per);
    idx.forEach((j, i) => padded.image(j, x, i * per));
    const shrunk = await fitImages({ data: toUint8(x), n: idx.length, c: 1, h: 32, w: 32 }, { channels: 1, size: 28 }, 'test');
    const c = await net.embed(Float32Array.from(shrunk.data, fromByte), idx.length);
    await net.release();
    const maxDiff = (p: Float32Array, q: Float32Array) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i])), 0);
    assert.ok(maxDiff(a.features, b.features) < 1e-5, `cropped features differ by ${maxDiff(a.features, b.features)}`);
    assert.ok(maxDiff(a.features, c.features) > 0.5, `a shrunk copy should embed elsewhere (max diff ${maxDiff(a.features, c.features)})`);
  });

  it('scores a folder of real PNGs near the floor and a folder of noise far above it (--json)', async () => {
    const { real, noise } = await writeFolders(dir);
    const run = (folder: string) => {
      const r = cli('evaluate', '--images', folder, '--reference-n', '2000', '--threads', '2', '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { scores: { fd: number; recall: number; entropy: number }; floor?: { fd: number }; reference: { n: number } };
    };
    const good = run(real);
    const bad = run(noise);
    assert.equal(good.reference.n, 2000);
    // The floor (real training images at the same N) is there when Debian's training split is.
    const floor = good.floor?.fd ?? good.scores.fd;
    assert.ok(good.scores.fd < 2 * floor, `real images: FD ${good.scores.fd}, floor ${floor}`);
    assert.ok(bad.scores.fd > 10 * good.scores.fd, `noise FD ${bad.scores.fd} vs real ${good.scores.fd}`);
    // Noise collapses to one corner of feature space: no real image lies near it (recall 0) and it
    // is mostly one class. (Its precision can stay high: that corner sits inside a large k-NN ball
    // of the real set, the outlier weakness Kynkäänniemi et al. discuss.)
    assert.ok(good.scores.recall > 0.5 && bad.scores.recall < 0.1, `recall real ${good.scores.recall}, noise ${bad.scores.recall}`);
    assert.ok(good.scores.entropy > 3 && bad.scores.entropy < 2, `entropy real ${good.scores.entropy}, noise ${bad.scores.entropy}`);
  });

  it('prints a table with the floor row, and one-line errors for bad arguments', () => {
    const r = cli('evaluate', '--images', path.join(dir, 'real'), '--reference-n', '500', '--threads', '2', '--floor', 'fashion-mnist');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /FD \/ floor: [\d.]+x/);
    assert.match(r.stdout, /real fashion-mnist \(120 images\)/);
    for (const [args, msg] of [
      [[], /give one of --model, --images, --pipeline and --ensemble/],
      [['--images', dir, '--n', '1'], /--n must be an integer >= 2/],
      [['--images', dir, '--steps', '10'], /--steps applies to --model/],
      [['--images', dir, '--k', '0'], /--k must be a positive integer/],
      [['--images', path.join(dir, 'missing')], /no such folder/],
    ] as const) {
      const e = cli('evaluate', ...args);
      assert.equal(e.code, 1);
      assert.match(e.stderr, msg);
      assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
    }
  });
});
