import assert from 'node:assert/strict';
import { makeGrid, makeStrip, upscale } from '../../src/image/grid';
import { imageToRgba, toByte, toRgba, type RgbaImage } from '../../src/image/pixels';

function solid(w: number, h: number, v: number): RgbaImage {
  const rgba = new Uint8Array(w * h * 4);
  for (let p = 0; p < w * h; p++) rgba.set([v, v, v, 255], 4 * p);
  return { width: w, height: h, rgba };
}

const pixel = (img: RgbaImage, x: number, y: number): number[] =>
  Array.from(img.rgba.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

describe('image/tensor', () => {
  it('maps [-1, 1] to bytes with clamping and rounding', () => {
    assert.deepEqual([-2, -1, 0, 1, 3, NaN, 0.5].map(toByte), [0, 0, 128, 255, 255, 0, 191]);
  });

  it('replicates grey to RGB with opaque alpha and keeps RGB planes apart', () => {
    const grey = imageToRgba(new Float32Array([-1, 1]), 0, 1, 1, 2);
    assert.deepEqual(Array.from(grey.rgba), [0, 0, 0, 255, 255, 255, 255, 255]);
    const rgb = toRgba(new Float32Array([1, -1, -1, -1, 1, -1]), 2, 3, 1, 1);
    assert.deepEqual(Array.from(rgb[0].rgba), [255, 0, 0, 255]);
    assert.deepEqual(Array.from(rgb[1].rgba), [0, 255, 0, 255]);
  });
});

describe('image/grid', () => {
  it('lays 10 images out as 4 x 3 with borders and upscale', () => {
    const tiles = Array.from({ length: 10 }, (_, i) => solid(5, 3, i * 20));
    const g = makeGrid(tiles, { border: 2, scale: 3 });
    assert.equal(g.width, 4 * 5 * 3 + 5 * 2);
    assert.equal(g.height, 3 * 3 * 3 + 4 * 2);
    assert.equal(g.rgba.length, g.width * g.height * 4);
    // Tile 5 (row 1, col 1) starts at x = 2 + 17, y = 2 + 11.
    assert.deepEqual(pixel(g, 19, 13), [100, 100, 100, 255]);
    assert.deepEqual(pixel(g, 19 + 14, 13 + 8), [100, 100, 100, 255]);
    assert.deepEqual(pixel(g, 0, 0), [96, 96, 96, 255]);
    // Cells 10 and 11 are empty and keep the border colour.
    assert.deepEqual(pixel(g, g.width - 3, g.height - 3), [96, 96, 96, 255]);
  });

  it('honours explicit columns, border width and colour', () => {
    const g = makeGrid([solid(2, 2, 9), solid(2, 2, 9), solid(2, 2, 9)], { cols: 3, border: 1, borderColor: [255, 0, 0, 255] });
    assert.equal(g.width, 3 * 2 + 4);
    assert.equal(g.height, 2 + 2);
    assert.deepEqual(pixel(g, 0, 0), [255, 0, 0, 255]);
  });

  it('upscales by nearest neighbour', () => {
    const img: RgbaImage = { width: 2, height: 1, rgba: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) };
    const up = upscale(img, 2);
    assert.equal(up.width, 4);
    assert.equal(up.height, 2);
    assert.deepEqual(pixel(up, 1, 1), [1, 2, 3, 4]);
    assert.deepEqual(pixel(up, 2, 0), [5, 6, 7, 8]);
  });

  it('draws a strip with one row per image and one column per frame', () => {
    const frames = [0, 1, 2, 3, 4].map((f) => [solid(4, 4, f), solid(4, 4, 100 + f)]);
    const s = makeStrip(frames, { border: 2 });
    assert.equal(s.width, 5 * 4 + 6 * 2);
    assert.equal(s.height, 2 * 4 + 3 * 2);
    assert.deepEqual(pixel(s, 2 + 3 * 6, 2 + 6), [103, 103, 103, 255]);
  });

  it('rejects tiles of different sizes', () => {
    assert.throws(() => makeGrid([solid(2, 2, 0), solid(3, 2, 0)]), /tile \(0,1\) is 3x2, expected 2x2/);
  });
});
