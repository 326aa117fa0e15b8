/**
 * `train --init DIR` on a float16 folder: LoRA on captioned pictures trains the float32 copy of the
 * float16 UNet (onnx/upcast.ts upcastModel), with captions and pictures encoded by the upcast text
 * encoder and VAE encoder. The second implementation is the same run on the float32 folder with
 * float16-rounded weights (half-export.ts), which computes the same values: the losses agree to
 * float32 arithmetic (1e-5 relative; the step graphs are built from the same ops), and the adapter,
 * loaded back into the float16 folder's pipeline, samples what it samples on the rounded folder.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { train } from '../../src';
import { OptionError } from '../../src/core/errors';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { loadStableDiffusion } from '../../src/runtime/sd';
import { writeHalfFolder, writeRoundedFolder } from './half-export';
import { maxAbsDiff } from '../helpers/close';

const SRC = path.join(__dirname, '..', 'fixtures', 'tiny-sd');

describe('LoRA training on a float16 Stable Diffusion folder', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-sd-fp16-train-'));
  const dir = (name: string) => path.join(tmp, name);
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  before(async () => {
    writeHalfFolder(SRC, dir('fp16'));
    writeRoundedFolder(SRC, dir('rounded'));
    fs.mkdirSync(dir('pics'));
    const picture = path.join(SRC, 'reference', 'train_image.png');
    await sharp(picture).png().toFile(path.join(dir('pics'), 'a.png'));
    fs.writeFileSync(path.join(dir('pics'), 'a.txt'), 'a red shoe');
    await sharp(picture).flop().png().toFile(path.join(dir('pics'), 'b.png'));
    fs.writeFileSync(path.join(dir('pics'), 'b.txt'), 'a blue shoe');
  });

  it('trains the float32 copy: the losses equal those of the float16-rounded float32 folder, and the adapter loads into the float16 pipeline', async () => {
    const run = (folder: string) => train({
      init: dir(folder), data: `captions:${dir('pics')}`, resolution: 32, lora: { rank: 4 }, steps: 3, batch: 2, lr: 1e-2, warmup: 0,
      threads: 2, out: dir(`run-${folder}`), sampleEvery: 0, seed: 1,
    });
    const half = await run('fp16');
    const rounded = await run('rounded');
    assert.equal(half.losses.length, 3);
    half.losses.forEach((l, i) => assert.ok(Math.abs(l - rounded.losses[i]) <= 1e-5 * Math.abs(rounded.losses[i]), `step ${i}: ${l} vs ${rounded.losses[i]}`));

    const adapter = path.join(dir('run-fp16'), 'adapter.safetensors');
    const latents = npyToFloat32(decodeNpy(fs.readFileSync(path.join(SRC, 'reference', 'latents_init.npy'))));
    const call = { prompt: 'a red shoe', steps: 2, height: 128, width: 128, latents };
    const sample = async (folder: string, lora?: string) => {
      const gen = await loadStableDiffusion(dir(folder), { threads: 2, lora });
      try {
        return (await gen(call)).latents;
      } finally {
        await gen.release();
      }
    };
    const withLora = await sample('fp16', adapter);
    assert.ok(maxAbsDiff(withLora, await sample('rounded', adapter)) <= 1e-5 * 20, 'the adapter on the float16 folder samples what it does on the rounded one');
    assert.ok(maxAbsDiff(withLora, await sample('fp16')) > 1e-4, 'the adapter changed nothing');
  });

  it('refuses to keep float16 frozen weights by reference, with one line naming the file and the way out', async () => {
    await assert.rejects(train({
      init: dir('fp16'), data: `captions:${dir('pics')}`, resolution: 32, lora: { rank: 4 }, steps: 1, batch: 2, threads: 2,
      out: dir('run-frozen'), sampleEvery: 0, frozenByReference: true,
    }), (e: Error) => e instanceof OptionError
      && /^frozenByReference .*unet[/\\]model\.onnx stores float16 weights, which train widened to float32 in memory; /.test(e.message)
      && /; pass frozenByReference: false .* or train the float32 export$/.test(e.message));
  });
});
