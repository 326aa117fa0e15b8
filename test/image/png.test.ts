import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../../src/core/node/atomic-file';
import { writeLossCurve } from '../../src/image/plot';
import { writeAnimation, writeImage, writePng } from '../../src/image/png';
import { readImage } from '../../src/image/read';
import type { RgbaImage } from '../../src/image/pixels';

function noise(w: number, h: number, seed: number): RgbaImage {
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i % 4 === 3 ? 255 : (i * 37 + seed * 101) % 256);
  return { width: w, height: h, rgba };
}

describe('image/png', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'od-image-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a PNG that decodes to the exact pixels, creating parent folders', async () => {
    const img = noise(7, 5, 1);
    const file = join(dir, 'a', 'b', 'x.png');
    await writePng(file, img);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 7);
    assert.equal(info.height, 5);
    assert.equal(info.channels, 4);
    assert.deepEqual(new Uint8Array(data), img.rgba);
  });

  it('chooses WebP (lossless) and JPEG by extension and rejects others', async () => {
    const img = noise(8, 8, 2);
    await writeImage(join(dir, 'x.webp'), img);
    const webp = await sharp(join(dir, 'x.webp')).ensureAlpha().raw().toBuffer();
    assert.equal((await sharp(join(dir, 'x.webp')).metadata()).format, 'webp');
    assert.deepEqual(new Uint8Array(webp), img.rgba);
    await writeImage(join(dir, 'x.jpg'), img);
    assert.equal((await sharp(join(dir, 'x.jpg')).metadata()).format, 'jpeg');
    await assert.rejects(writeImage(join(dir, 'x.bmp'), img), /x\.bmp: unsupported image extension/);
  });

  for (const ext of ['gif', 'webp']) {
    it(`writes an animated ${ext} with one page per frame`, async () => {
      const frames = [0, 1, 2, 3, 4, 5].map((s) => noise(10, 6, s));
      const file = join(dir, `anim.${ext}`);
      await writeAnimation(file, frames, { delayMs: 80, loop: 0 });
      const meta = await sharp(file, { animated: true }).metadata();
      assert.equal(meta.format, ext);
      assert.equal(meta.pages, 6);
      assert.equal(meta.width, 10);
      assert.equal(meta.pageHeight, 6);
      assert.deepEqual(meta.delay, [80, 80, 80, 80, 80, 80]);
      assert.equal(meta.loop, 0);
    });
  }

  it('writes a loss curve PNG of the requested size', async () => {
    const losses = Array.from({ length: 200 }, (_, i) => 1 / (1 + i / 10) + 0.05 * Math.sin(i));
    const file = join(dir, 'loss.png');
    await writeLossCurve(file, losses, { title: 'train <loss>', width: 640, height: 360, logY: true });
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 640);
    assert.equal(meta.height, 360);
    await writeLossCurve(join(dir, 'empty.png'), [], {});
    assert.ok(existsSync(join(dir, 'empty.png')));
  });

  it('writes atomically: no temporary file remains, and a failed write keeps the old file', async () => {
    const file = join(dir, 'out.png');
    await writePng(file, noise(3, 3, 0));
    await writePng(file, noise(3, 3, 1));
    assert.deepEqual(readdirSync(dir), ['out.png']);
    // A folder in the way makes the rename fail: the tmp file must be cleaned up.
    const blocked = join(dir, 'blocked');
    await writeFileAtomic(join(blocked, 'keep'), 'x');
    await assert.rejects(writeFileAtomic(blocked, 'y'));
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'out.png']);
  });

  it('reads an image back as CHW in [-1, 1], resized and centre-cropped', async () => {
    // 8x4 image: left half black, right half white; the centre crop of a 4x4 cover keeps both.
    const rgba = new Uint8Array(8 * 4 * 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) rgba.set(x < 4 ? [0, 0, 0, 255] : [255, 255, 255, 255], (y * 8 + x) * 4);
    const file = join(dir, 'in.png');
    await writePng(file, { width: 8, height: 4, rgba });
    const grey = await readImage(file, { channels: 1, size: 4 });
    assert.equal(grey.length, 16);
    assert.deepEqual(Array.from(grey.subarray(0, 4)), [-1, -1, 1, 1]);
    const rgb = await readImage(file, { channels: 3, size: 2 });
    assert.equal(rgb.length, 12);
    // Downsizing filters, so only the sides are checked.
    assert.ok(rgb[0] < -0.5 && rgb[1] > 0.5 && rgb[8] < -0.5 && rgb[9] > 0.5);
  });
});
