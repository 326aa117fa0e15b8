/**
 * Data preparation: derives two small folders from the embedded Fashion-MNIST so that the
 * multi-label and image-to-image pipelines run without downloading anything.
 *   node --import tsx tools/make-demo-data.ts [--out data/demo] [--n 2000]
 * - OUT/multilabel/: PNGs + labels.csv with 4 attributes derived from the class:
 *   upper (tops, dresses, coats, shirts), lower (trousers, dresses), footwear, warm (pullover,
 *   coat, ankle boot). Use with graphs/unet-multilabel.json and --data folder:OUT/multilabel.
 * - OUT/paired/: cond/ holds a Sobel edge sketch of each garment, target/ the garment: the
 *   "sketch -> picture" analogue of the stick-figure-pose -> person example. Use with
 *   graphs/unet-img2img.json and --data paired:OUT/paired.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../src/data/open';
import { writePng } from '../src/image/png';
import { imageToRgba } from '../src/image/pixels';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};

const ATTRIBUTES = ['upper', 'lower', 'footwear', 'warm'];
const HAS: Record<string, number[]> = { upper: [0, 2, 3, 4, 6], lower: [1, 3], footwear: [5, 7, 9], warm: [2, 4, 9] };

/** Sobel gradient magnitude, thresholded: white strokes on black, in [-1, 1]. */
function sketch(img: Float32Array, s: number): Float32Array {
  const out = new Float32Array(s * s).fill(-1);
  const at = (y: number, x: number) => img[Math.min(s - 1, Math.max(0, y)) * s + Math.min(s - 1, Math.max(0, x))];
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const gx = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y, x - 1) - at(y + 1, x - 1);
      const gy = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y - 1, x) - at(y - 1, x + 1);
      if (Math.hypot(gx, gy) > 1.5) out[y * s + x] = 1;
    }
  }
  return out;
}

(async () => {
  const out = arg('out', 'data/demo');
  const n = Number(arg('n', '2000'));
  const data = await openDataset('fashion-mnist', { channels: 1, size: 28 });
  const ml = join(out, 'multilabel');
  mkdirSync(ml, { recursive: true });
  for (const d of ['cond', 'target']) mkdirSync(join(out, 'paired', d), { recursive: true });
  const rows = [`file,${ATTRIBUTES.join(',')}`];
  const img = new Float32Array(28 * 28);
  for (let i = 0; i < Math.min(n, data.length); i++) {
    data.image(i, img, 0);
    const name = `${String(i).padStart(5, '0')}.png`;
    const label = data.label!(i);
    rows.push(`${name},${ATTRIBUTES.map((a) => (HAS[a].includes(label) ? 1 : 0)).join(',')}`);
    await writePng(join(ml, name), imageToRgba(img, 0, 1, 28, 28));
    await writePng(join(out, 'paired', 'target', name), imageToRgba(img, 0, 1, 28, 28));
    await writePng(join(out, 'paired', 'cond', name), imageToRgba(sketch(img, 28), 0, 1, 28, 28));
  }
  writeFileSync(join(ml, 'labels.csv'), `${rows.join('\n')}\n`);
  console.log(`wrote ${Math.min(n, data.length)} images to ${ml} (labels.csv: ${ATTRIBUTES.join(', ')}) and ${join(out, 'paired')} (cond = edge sketch, target = garment)`);
})().catch((e) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
