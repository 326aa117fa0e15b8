import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listCaptioned, readCaptionedImage } from '../../src/data/captions';
import { decodeNpy } from '../../src/data/npy';
import { fixture } from '../helpers/paths';

describe('data: captions:DIR (captioned pictures for text-to-image fine-tuning)', () => {
  let dir: string;
  const png = fixture('tiny-sd/reference/train_image.png');
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-captions-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads an image exactly as diffusers' pipelines feed the VAE encoder (x / 127.5 - 1, the fixture's train_pixels.npy)", async () => {
    fs.copyFileSync(png, path.join(dir, 'a.png'));
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a red shoe\n');
    const items = listCaptioned(dir);
    assert.deepEqual(items, [{ file: 'a.png', caption: 'a red shoe' }]);
    const x = await readCaptionedImage(dir, items[0], 32);
    const ref = decodeNpy(fs.readFileSync(fixture('tiny-sd/reference/train_pixels.npy')));
    assert.deepEqual(ref.shape, [1, 3, 32, 32]);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - (ref.data as Float32Array)[i]));
    assert.ok(worst < 1e-6, `max |diff| ${worst}`);
  });

  it('same-named .txt captions (kohya / diffusers scripts): sorted, whitespace collapsed, BOM dropped', () => {
    for (const n of ['b', 'a']) fs.copyFileSync(png, path.join(dir, `${n}.png`));
    fs.writeFileSync(path.join(dir, 'a.txt'), '\uFEFFa   red\n\tshoe ');
    fs.writeFileSync(path.join(dir, 'b.txt'), 'ein roter Schuh, größe 42');
    assert.deepEqual(listCaptioned(dir), [{ file: 'a.png', caption: 'a red shoe' }, { file: 'b.png', caption: 'ein roter Schuh, größe 42' }]);
  });

  it('metadata.jsonl (Hugging Face image folders) wins over .txt files and keeps its order', () => {
    fs.mkdirSync(path.join(dir, 'img'));
    for (const n of ['x', 'y']) fs.copyFileSync(png, path.join(dir, 'img', `${n}.png`));
    fs.writeFileSync(path.join(dir, 'metadata.jsonl'), '{"file_name": "img/y.png", "text": "second"}\n\n{"file_name": "img/x.png", "text": "first"}\n');
    assert.deepEqual(listCaptioned(dir), [{ file: 'img/y.png', caption: 'second' }, { file: 'img/x.png', caption: 'first' }]);
  });

  it('refuses, naming the file: a caption in a bad encoding, a missing caption, an image that is not one', async () => {
    fs.copyFileSync(png, path.join(dir, 'a.png'));
    fs.writeFileSync(path.join(dir, 'a.txt'), Buffer.from([0x61, 0xff, 0xfe, 0x62]));
    assert.throws(() => listCaptioned(dir), { message: `${path.join(dir, 'a.txt')}: caption is not valid UTF-8 text (save it as UTF-8)` });
    fs.rmSync(path.join(dir, 'a.txt'));
    assert.throws(() => listCaptioned(dir), { message: `${path.join(dir, 'a.png')}: has no caption (expected a.txt beside it, or a metadata.jsonl)` });
    fs.writeFileSync(path.join(dir, 'a.txt'), 'x');
    fs.writeFileSync(path.join(dir, 'a.png'), 'not a picture');
    const [item] = listCaptioned(dir);
    await assert.rejects(readCaptionedImage(dir, item, 32), (e: Error) => e.message.startsWith(`${path.join(dir, 'a.png')}: cannot decode image`));
  });

  it('metadata.jsonl: a bad line, a path outside the folder (.., absolute, symlink) and a duplicate are refused naming the line', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'od-outside-'));
    try {
      fs.copyFileSync(png, path.join(outside, 'o.png'));
      fs.copyFileSync(png, path.join(dir, 'a.png'));
      fs.symlinkSync(path.join(outside, 'o.png'), path.join(dir, 'link.png'));
      const meta = path.join(dir, 'metadata.jsonl');
      const cases: [string, string][] = [
        ['[1]', 'expected {"file_name": "<image>", "text": "<caption>"}'],
        ['{"file_name": "a.png"', 'not a JSON object (expected {"file_name": ..., "text": ...})'],
        [`{"file_name": "../${path.basename(outside)}/o.png", "text": "t"}`, `names '../${path.basename(outside)}/o.png', which is outside ${dir}`],
        [`{"file_name": "${path.join(outside, 'o.png')}", "text": "t"}`, `names '${path.join(outside, 'o.png')}', which does not exist in ${dir}`],
        ['{"file_name": "link.png", "text": "t"}', `names 'link.png', which is outside ${dir}`],
      ];
      for (const [line, why] of cases) {
        fs.writeFileSync(meta, `{"file_name": "a.png", "text": "ok"}\n${line}\n`);
        assert.throws(() => listCaptioned(dir), { message: `${meta}:2: ${why}` }, line);
      }
      fs.writeFileSync(meta, '{"file_name": "a.png", "text": "1"}\n{"file_name": "./a.png", "text": "2"}\n');
      assert.throws(() => listCaptioned(dir), { message: `${meta}:2: './a.png' is listed twice` });
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('an empty folder says what it looked for', () => {
    assert.throws(() => listCaptioned(dir), { message: `${dir}: no captioned images (expected images with same-named .txt captions, or a metadata.jsonl)` });
  });
});
