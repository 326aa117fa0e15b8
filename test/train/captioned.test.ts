import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { condInputFeeds } from '../../src/train/cond-feeds';
import { configFromJson } from '../../src/core/model-config';
import { Rng } from '../../src/core/rng';
import { loadStableDiffusion } from '../../src/runtime/sd';
import { unetWithLora } from '../../src/runtime/sd-lora';
import { train } from '../../src/train/trainer';
import { captionCache } from '../../src/train/caption-cache';
import { cli, cliInProcess } from '../helpers/cli';
import { fixture } from '../helpers/paths';
import { tempDir } from '../runtime/fakes';

const DIR = fixture('tiny-sd');
const npy = (file: string) => npyToFloat32(decodeNpy(readFileSync(file)));
const ref = (name: string) => npy(join(DIR, 'reference', `${name}.npy`));
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

// Eight 32x32 pictures: a coloured square or disc on a grey ground, captioned by colour and shape.
const COLOURS: [string, string][] = [['red', '#d02020'], ['blue', '#2040d0'], ['green', '#20b040'], ['yellow', '#e0d020']];
async function makePictures(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  let k = 0;
  for (const [name, hex] of COLOURS) {
    for (const shape of ['square', 'circle']) {
      const body = shape === 'square' ? `<rect x="8" y="8" width="16" height="16" fill="${hex}"/>` : `<circle cx="16" cy="16" r="9" fill="${hex}"/>`;
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="#808080"/>${body}</svg>`;
      await sharp(Buffer.from(svg)).png().toFile(join(dir, `p${k}.png`));
      writeFileSync(join(dir, `p${k}.txt`), `a ${name} ${shape}`);
      k++;
    }
  }
}

/** A copy of the fixture folder made of links, without the parts named in `drop`. */
function linkedFixture(to: string, drop: string[]): string {
  mkdirSync(to, { recursive: true });
  for (const part of ['model_index.json', 'scheduler', 'tokenizer', 'text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
    if (!drop.includes(part)) symlinkSync(join(DIR, part), join(to, part));
  }
  return to;
}

describe('captioned training: train --init DIR --data captions:FOLDER on the tiny-sd pipeline', function () {
  this.timeout(600_000);
  let tmp: string;
  let pics: string;
  before(async () => {
    tmp = tempDir('captioned');
    pics = join(tmp, 'pics');
    await makePictures(pics);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('the cache holds 0.18215 * the VAE mean of the centre crop and the caption\'s embeddings (torch references)', async () => {
    // The fixture's training picture, centred in a 48x32 picture whose sides are noise: the 32x32 centre crop is the picture.
    const data = join(tmp, 'ref-pics');
    mkdirSync(data);
    const picture = await sharp(join(DIR, 'reference', 'train_image.png')).removeAlpha().raw().toBuffer();
    const wide = Buffer.alloc(48 * 32 * 3);
    for (let i = 0; i < wide.length; i++) wide[i] = (i * 7919) % 251;
    for (let y = 0; y < 32; y++) picture.copy(wide, (y * 48 + 8) * 3, y * 32 * 3, (y + 1) * 32 * 3);
    await sharp(wide, { raw: { width: 48, height: 32, channels: 3 } }).png().toFile(join(data, 'shoe.png'));
    writeFileSync(join(data, 'shoe.txt'), 'a red shoe\n');
    const out = join(tmp, 'ref-run');
    const sd = await loadStableDiffusion(DIR, { threads: 2 });
    await captionCache(join(out, 'cache'), data, sd.sd, 32);
    await sd.release();
    const index = JSON.parse(readFileSync(join(out, 'cache', 'index.json'), 'utf8'));
    assert.deepEqual([index.latentDims, index.embeddingDims, index.items[0].caption], [[4, 16, 16], [77, 32], 'a red shoe']);
    assert.ok(maxDiff(npy(join(out, 'cache', 'latents.npy')), ref('train_latents')) < 1e-4);
    assert.ok(maxDiff(npy(join(out, 'cache', 'embeddings.npy')), ref('text_embeddings_cond')) < 1e-5);
    assert.ok(maxDiff(npy(join(out, 'cache', 'empty.npy')), ref('text_embeddings_uncond')) < 1e-5);
  });

  it('caption dropout feeds the empty prompt\'s embedding, not zeros', () => {
    const config = configFromJson({ image: { channels: 4, size: 2 }, diffusion: { timesteps: 10, schedule: 'linear', prediction: 'eps' }, inputs: { encoder_hidden_states: 'float32 [N,2,3]' } }, 'test');
    const empty = Float32Array.of(1, 2, 3, 4, 5, 6);
    const batch = { size: 2, x: new Float32Array(32), indices: Int32Array.of(0, 1), inputs: { encoder_hidden_states: new Float32Array(12).fill(9) } };
    const all = condInputFeeds(batch, config, ['encoder_hidden_states'], new Rng(0), 1, { encoder_hidden_states: empty });
    assert.deepEqual([...(all.encoder_hidden_states.data as Float32Array)], [...empty, ...empty]);
    const none = condInputFeeds(batch, config, ['encoder_hidden_states'], new Rng(0), 0, { encoder_hidden_states: empty });
    assert.deepEqual([...(none.encoder_hidden_states.data as Float32Array)], new Array(12).fill(9));
  });

  let loraRun: string;
  it('a LoRA run of 50 steps on 8 captioned pictures (stopped at 25, resumed without encoding again) lowers the loss', async () => {
    loraRun = join(tmp, 'lora');
    let encoded = 0;
    const onEncode = () => encoded++;
    await train({
      init: DIR, data: `captions:${pics}`, resolution: 32, lora: { rank: 4 }, steps: 25, batch: 2, lr: 1e-2, warmup: 0, condDropout: 0.1,
      threads: 2, out: loraRun, sampleEvery: 0, onEncode,
    });
    assert.equal(encoded, 8);
    const r = await train({ resume: loraRun, steps: 50, threads: 2, onEncode });
    assert.equal(encoded, 8, 'the resumed run encoded again');
    assert.equal(r.losses.length, 50);
    const first = mean(r.losses.slice(0, 10));
    const last = mean(r.losses.slice(-10));
    assert.ok(last < first, `loss did not fall: first 10 ${first}, last 10 ${last}`);
    assert.ok(existsSync(join(loraRun, 'adapter.safetensors')));
  });

  it('its adapter loads in pipeline(dir, { lora }), and the merged UNet equals the adapter applied to 1e-5', async () => {
    const adapter = join(loraRun, 'adapter.safetensors');
    const feeds = {
      sample: new ort.Tensor('float32', ref('unet_step0_sample'), [2, 4, 16, 16]),
      timestep: new ort.Tensor('float32', Float32Array.of(751, 751), [2]),
      encoder_hidden_states: new ort.Tensor('float32', npy(join(DIR, 'reference', 'encoder_hidden_states.npy')), [2, 77, 32]),
    };
    const applied = await ort.InferenceSession.create(join(loraRun, 'model.onnx'));
    const merged = await ort.InferenceSession.create(unetWithLora(DIR, adapter));
    const base = await ort.InferenceSession.create(join(DIR, 'unet', 'model.onnx'));
    const a = (await applied.run(feeds)).out_sample.data as Float32Array;
    const m = (await merged.run(feeds)).out_sample.data as Float32Array;
    const b = (await base.run(feeds)).out_sample.data as Float32Array;
    assert.ok(maxDiff(a, m) < 1e-5, `merged vs applied ${maxDiff(a, m)}`);
    assert.ok(maxDiff(a, b) > 1e-3, 'the adapter changed nothing');
    const gen = await loadStableDiffusion(DIR, { lora: adapter, threads: 2 });
    const plain = await loadStableDiffusion(DIR, { threads: 2 });
    // The fixture has no vae config, so the pipeline assumes SD's 8x VAE: 128 pixels ask for 16x16 latents (32x32 out).
    const withLora = await gen({ prompt: 'a red square', steps: 3, height: 128, width: 128 });
    const without = await plain({ prompt: 'a red square', steps: 3, height: 128, width: 128 });
    assert.deepEqual([withLora.h, withLora.w], [32, 32]);
    assert.ok(maxDiff(withLora.latents, without.latents) > 1e-4);
    await Promise.all([gen.release(), plain.release(), applied.release(), merged.release(), base.release()]);
  });

  it('CLI: sample --model DIR --prompt --lora ADAPTER samples with the adapter merged', async () => {
    const out = join(tmp, 'lora-sample.png');
    const r = await cliInProcess(['sample', '--model', DIR, '--prompt', 'a red square', '--lora', join(loraRun, 'adapter.safetensors'), '--steps', '2',
      '--n', '1', '--height', '128', '--width', '128', '--border', '0', '--threads', '2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*lora-sample\.png \(32x32\)/);
    const bad = await cliInProcess(['sample', '--model', DIR, '--prompt', 'x', '--lora', join(tmp, 'none.safetensors'), '--steps', '1', '--out', join(tmp, 'no.png')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr.trim(), /^error: .*none\.safetensors: no such file \(cannot read LoRA adapter\)$/);
  });

  it('resume is bit-exact with caption dropout; a full fine-tune leaves a pipeline folder and a prompt grid', async () => {
    const base = { init: DIR, data: `captions:${pics}`, resolution: 32, batch: 2, lr: 1e-3, warmup: 0, condDropout: 0.5, lrDecay: 'constant' as const, threads: 2 };
    const whole = await train({ ...base, steps: 2, out: join(tmp, 'whole'), sampleEvery: 2, samplePrompts: ['a red square', 'a blue circle'] });
    await train({ ...base, steps: 1, out: join(tmp, 'part'), sampleEvery: 0 });
    const resumed = await train({ resume: join(tmp, 'part'), steps: 2, threads: 2 });
    assert.deepEqual(resumed.losses, whole.losses);
    // The grid: two prompts side by side, each 32x32 picture drawn at scale 2.
    const grid = await sharp(join(tmp, 'whole', 'samples', 'step-000002.png')).metadata();
    assert.ok(grid.width! >= 128 && grid.height! >= 64 && grid.height! < 128, `grid ${grid.width}x${grid.height}`);
    // The pipeline folder: the trained UNet with the folder's other parts; it loads and samples.
    const folder = join(tmp, 'whole', 'pipeline');
    assert.deepEqual(readFileSync(join(folder, 'unet', 'model.onnx')), readFileSync(join(tmp, 'whole', 'model.onnx')));
    assert.deepEqual(readFileSync(join(folder, 'tokenizer', 'tokenizer.json')), readFileSync(join(DIR, 'tokenizer', 'tokenizer.json')));
    const gen = await loadStableDiffusion(folder, { threads: 2 });
    const img = await gen({ prompt: 'a red square', steps: 2, height: 128, width: 128 });
    assert.deepEqual([img.h, img.w], [32, 32]);
    await gen.release();
  });

  describe('bad inputs get one line naming the file or option, and leave no run folder', () => {
    async function refused(o: Parameters<typeof train>[0], pattern: RegExp): Promise<void> {
      const out = join(tmp, `bad-${Math.random().toString(36).slice(2)}`);
      await assert.rejects(train({ resolution: 32, steps: 1, threads: 2, sampleEvery: 0, ...o, out }), (e: Error) => {
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes('\n'), e.message);
        return true;
      });
      assert.ok(!existsSync(out), 'a refused run left its folder');
    }
    function badPictures(name: string, files: Record<string, Buffer | string>): string {
      const dir = join(tmp, name);
      mkdirSync(dir);
      for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
      return dir;
    }

    it('a pipeline folder without a tokenizer', async () => {
      const dir = linkedFixture(join(tmp, 'no-tokenizer'), ['tokenizer']);
      await refused({ init: dir, data: `captions:${pics}` }, /no-tokenizer\/tokenizer: no tokenizer: expected tokenizer\.json/);
    });

    it('an image that is not one', async () => {
      const dir = badPictures('not-image', { 'a.png': 'this is text', 'a.txt': 'a red square' });
      await refused({ init: DIR, data: `captions:${dir}` }, /not-image\/a\.png: cannot decode image/);
    });

    it('a caption that is not UTF-8', async () => {
      const png = readFileSync(join(pics, 'p0.png'));
      const dir = badPictures('latin1', { 'a.png': png, 'a.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9]) });
      await refused({ init: DIR, data: `captions:${dir}` }, /latin1\/a\.txt: caption is not valid UTF-8/);
    });

    it('a caption longer than the text encoder takes', async () => {
      const png = readFileSync(join(pics, 'p0.png'));
      const dir = badPictures('long', { 'a.png': png, 'a.txt': 'red '.repeat(80) });
      await refused({ init: DIR, data: `captions:${dir}` }, /long\/a\.txt: the caption of a\.png is 80 tokens; the text encoder takes 75/);
    });

    it('a sample prompt longer than the text encoder takes, no resolution for a folder without a UNet config, other data for a folder', async () => {
      await refused({ init: DIR, data: `captions:${pics}`, samplePrompts: ['blue '.repeat(90)] }, /samplePrompts 'blue blue .* is 90 tokens/);
      await refused({ init: DIR, data: `captions:${pics}`, resolution: undefined }, /resolution is needed: .*tiny-sd has no unet\/config\.json sample_size/);
      await refused({ init: DIR, data: 'synthetic' }, /^data must be captions:FOLDER when `init` is a diffusers pipeline folder \(.*tiny-sd\)/);
    });

    it('a resumed run whose captions changed since its cache was made', async () => {
      const dir = join(tmp, 'changing');
      mkdirSync(dir);
      for (const f of ['p0.png', 'p0.txt', 'p1.png', 'p1.txt']) writeFileSync(join(dir, f), readFileSync(join(pics, f)));
      const out = join(tmp, 'changing-run');
      await train({ init: DIR, data: `captions:${dir}`, resolution: 32, steps: 1, batch: 2, threads: 2, out, sampleEvery: 0 });
      writeFileSync(join(dir, 'p1.txt'), 'a blue circle');
      await assert.rejects(train({ resume: out, steps: 2, threads: 2 }),
        /changing\/p1\.png: has a changed caption since the run's caption cache \(.*changing-run\/cache\/index\.json\) was made/);
      assert.equal(JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')).step, 1, 'the refused resume changed the run');
    });

    it('CLI: captions: data with a model file instead of a pipeline folder', () => {
      const out = join(tmp, 'cli-bad');
      const r = cli('train', '--init', join(DIR, 'unet', 'model.onnx'), '--data', `captions:${pics}`, '--steps', '1', '--out', out);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr.trim(), /^error: --init must be a diffusers ONNX pipeline folder .* to train on captions: data, got .*unet\/model\.onnx$/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  });
});
