import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { validateRecipe } from '../../src/core/recipe';
import { openDataset } from '../../src/data/open';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { repoRoot } from '../helpers/paths';
import { inPage, openTrainSite, SIZE, TrainSite } from './train-site';

/**
 * A w x h RGBA image: colour ramps, a disc with hard edges, and alpha from opaque (left) through
 * partial to fully transparent (top-right corner).
 */
function rgbaPicture(w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 4 * (y * w + x);
      const inDisc = Math.hypot(x - w / 2, y - h / 2) < Math.min(w, h) / 3;
      px[o] = Math.round((255 * x) / (w - 1));
      px[o + 1] = inDisc ? 230 : Math.round((255 * y) / (h - 1));
      px[o + 2] = inDisc ? 20 : 128;
      px[o + 3] = x > (3 * w) / 4 && y < h / 4 ? 0 : Math.max(0, Math.min(255, Math.round(255 - (200 * x) / (w - 1))));
    }
  }
  return px;
}

/** Byte levels (0-255) between two [-1, 1] images: the largest and the mean. */
function levels(a: number[], b: number[]): { max: number; mean: number } {
  const d = a.map((v, i) => Math.abs(v - b[i]) * 127.5);
  return { max: Math.max(...d), mean: d.reduce((s, v) => s + v, 0) / d.length };
}

describe('web: page images vs the Node folder loader (imageDataset, folder:)', function () {
  this.timeout(300000);
  let site: TrainSite;
  // One class per image, as sub-folders for Node: at the model's size, larger (cover-resized),
  // and slightly smaller (at most a quarter: data/fit.ts centres such an image).
  const cases = [{ cls: 'a-exact', w: SIZE, h: SIZE }, { cls: 'b-larger', w: 23, h: 19 }, { cls: 'c-smaller', w: 14, h: 13 }];
  const pngs: Buffer[] = [];

  before(async () => {
    site = await openTrainSite();
    const recipe = validateRecipe({
      ...loadRecipe(path.join(repoRoot(), 'graphs/unet-tiny.json')),
      image: { channels: 3, size: SIZE },
      conditioning: { classes: 3, nullClassDropout: 0.1 },
    }, 'class-conditional unet-tiny');
    fs.writeFileSync(path.join(site.site, 'models', 'tiny-class.onnx'), encodeModel(buildModel(recipe, { seed: 1 })));
    for (const c of cases) pngs.push(await sharp(rgbaPicture(c.w, c.h), { raw: { width: c.w, height: c.h, channels: 4 } }).png().toBuffer());
  });

  after(async () => {
    await site?.close();
  });

  it('odd-size RGBA PNG files with labels train a class-conditional model; tensors equal Node\'s at the model\'s size, differ when resized', async () => {
    const data = path.join(site.dir, 'classes');
    cases.forEach((c, i) => {
      fs.mkdirSync(path.join(data, c.cls), { recursive: true });
      fs.writeFileSync(path.join(data, c.cls, `img${i}.png`), pngs[i]);
    });
    const node = await openDataset(`folder:${data}`, { channels: 3, size: SIZE });
    const per = 3 * SIZE * SIZE;
    const nodeImages = cases.map((_, i) => {
      const out = new Float32Array(per);
      node.image(i, out, 0);
      return [...out];
    });

    const page = await inPage<{ images: number[][]; labels: number[]; classNames: string[]; steps: number }>(site.page, `
      const files = args.pngs.map((s, i) => new File([fromB64(s)], 'img' + i + '.png', { type: 'image/png' }));
      const trainer = await lib.createTrainer('models/tiny-class.onnx', undefined, { batch: 3, steps: 2, numThreads: 1 });
      const data = await lib.imageDataset(files, { ...trainer.config.image, labels: [0, 1, 2], classNames: args.classes });
      const r = await trainer.fit(data, { steps: 1 });
      await trainer.release();
      const tensors = [0, 1, 2].map((i) => { const out = new Float32Array(${per}); data.image(i, out, 0); return [...out]; });
      return { images: tensors, labels: [0, 1, 2].map((i) => data.label(i)), classNames: data.classNames, steps: r.steps };
    `, { pngs: pngs.map((p) => p.toString('base64')), classes: cases.map((c) => c.cls) });

    assert.equal(page.steps, 1, 'one class-conditional step on the picked files');
    assert.deepEqual(page.labels, [0, 1, 2].map((i) => node.label!(i)));
    assert.deepEqual(page.classNames, node.classNames);
    const [exact, larger, smaller] = cases.map((_, i) => levels(page.images[i], nodeImages[i]));
    console.log(`      page vs folder: (levels of 255, max / mean) ${SIZE}x${SIZE} ${exact.max.toFixed(2)} / ${exact.mean.toFixed(3)}, `
      + `23x19 ${larger.max.toFixed(1)} / ${larger.mean.toFixed(2)}, 14x13 ${smaller.max.toFixed(1)} / ${smaller.mean.toFixed(2)}`);
    // At the model's size only alpha flattening (and the canvas's premultiplied storage) rounds.
    assert.ok(exact.max <= 1.01, `${SIZE}x${SIZE}: ${exact.max} levels`);
    // Cover-resize: the same crop, but PIL-style antialiased linear in the page against sharp's lanczos3.
    assert.ok(larger.mean < 6 && larger.max < 64, `23x19: ${JSON.stringify(larger)}`);
    // Slightly smaller: the page centres it on black (as the IDX/CIFAR loaders), sharp stretches it to cover.
    assert.ok(smaller.mean > 10, `14x13: the page pads where Node stretches (${JSON.stringify(smaller)})`);
  });
});
