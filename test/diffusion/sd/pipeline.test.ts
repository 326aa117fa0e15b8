/**
 * The Stable Diffusion pipeline on the tiny-sd fixture (real diffusers/transformers classes, random
 * weights) against its torch references: token ids exactly, text embeddings to 1e-5, every DDIM
 * step's latents at guidance 7.5 to 1e-4 from the reference's latents_init, the decoded image to
 * 1e-3; VAE-encoder means to 1e-5; and one-line errors for bad folders and options.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../../../src/data/npy';
import { loadStableDiffusion, type StableDiffusionPipeline } from '../../../src/runtime/sd';
import { pipeline } from '../../../src';
import { ClipTokenizer } from '../../../src/diffusion/sd/tokenizer';
import { DiffusionError, FileFormatError, OptionError } from '../../../src/core/errors';
import { onnx } from '../../../src/onnx/onnx-proto';
import { maxAbsDiff } from '../../helpers/close';

const DIR = path.join(__dirname, '..', '..', 'fixtures', 'tiny-sd');
const REF = path.join(DIR, 'reference');
const ref = (name: string) => decodeNpy(fs.readFileSync(path.join(REF, name)), name);
const refF = (name: string) => npyToFloat32(ref(name));
const PER = 4 * 16 * 16;

/** A copy of the fixture folder by symlinks, minus `drop` (relative paths), for error cases. */
const made: string[] = [];
function variant(drop: string[], extra: Record<string, string | Uint8Array> = {}): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-sd-'));
  made.push(out);
  for (const sub of fs.readdirSync(DIR)) {
    if (sub === 'reference' || drop.includes(sub)) continue;
    if (sub === 'tokenizer') {
      fs.mkdirSync(path.join(out, sub));
      for (const f of fs.readdirSync(path.join(DIR, sub))) {
        if (!drop.includes(`tokenizer/${f}`)) fs.symlinkSync(path.join(DIR, sub, f), path.join(out, sub, f));
      }
    } else fs.symlinkSync(path.join(DIR, sub), path.join(out, sub));
  }
  for (const [rel, text] of Object.entries(extra)) {
    // only into folders `drop` removed: the others are links into the fixture
    fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
    fs.writeFileSync(path.join(out, rel), text);
  }
  return out;
}

const tokenizerFiles = (dir: string) => {
  const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : undefined);
  return {
    tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json'), specialTokensMap: read('special_tokens_map.json'),
    vocabJson: read('vocab.json'), mergesTxt: read('merges.txt'),
  };
};

describe('Stable Diffusion pipeline (tiny-sd fixture, Node)', function () {
  let gen: StableDiffusionPipeline;
  before(async () => { gen = await loadStableDiffusion(DIR, { threads: 2 }); });
  after(async () => {
    await gen?.release();
    // rm removes the links, not the fixture files they point to
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('tokenizes "a red shoe" and "" to the reference ids exactly, from tokenizer.json and from vocab.json + merges.txt', () => {
    const files = tokenizerFiles(path.join(DIR, 'tokenizer'));
    const fromJson = ClipTokenizer.fromFiles(files, 'tokenizer');
    const fromBpe = ClipTokenizer.fromFiles({ ...files, tokenizerJson: undefined }, 'tokenizer');
    for (const tok of [fromJson, fromBpe]) {
      assert.deepEqual([...tok.encode('a red shoe').ids], [...(ref('input_ids_cond.npy').data as Int32Array)]);
      assert.deepEqual([...tok.encode('').ids], [...(ref('input_ids_uncond.npy').data as Int32Array)]);
    }
    const odd = 'Héllo,  WORLD!! 42 <|endoftext|> naïve\tcafé';
    assert.deepEqual([...fromBpe.encode(odd).ids], [...fromJson.encode(odd).ids]);
  });

  it('truncates a prompt longer than the encoder to [bos, 75 tokens, eos] and says how many were dropped', () => {
    const tok = ClipTokenizer.fromFiles(tokenizerFiles(path.join(DIR, 'tokenizer')), 'tokenizer');
    const { ids, truncated } = tok.encode('a '.repeat(100));
    assert.equal(ids.length, 77);
    assert.equal(ids[0], 998);
    assert.equal(ids[76], 999);
    assert.equal(truncated, 25);
    assert.ok([...ids.subarray(1, 76)].every((v) => v === 320));
  });

  it('text embeddings match the encoder reference to 1e-5', async () => {
    for (const [prompt, file] of [['a red shoe', 'text_embeddings_cond.npy'], ['', 'text_embeddings_uncond.npy']]) {
      const { embeddings, dims } = await gen.sd.encodePrompt(prompt);
      assert.deepEqual([...dims], [1, 77, 32]);
      const d = maxAbsDiff(embeddings, refF(file));
      assert.ok(d < 1e-5, `${file}: ${d}`);
    }
  });

  it('txt2img: every DDIM step\'s latents to 1e-4 and the decoded image to 1e-3 (guidance 7.5, 4 steps, reference latents)', async () => {
    const steps: Float32Array[] = [];
    const ts: number[] = [];
    const res = await gen({
      prompt: 'a red shoe', steps: 4, latents: refF('latents_init.npy'), height: 128, width: 128,
      onStep: ({ latents, t }) => { steps.push(latents.slice()); ts.push(t); },
    });
    assert.deepEqual(ts, [...(ref('timesteps.npy').data as BigInt64Array)].map(Number));
    const want = refF('latents_steps.npy');
    steps.forEach((x, i) => {
      const d = maxAbsDiff(x, want.subarray(i * PER, (i + 1) * PER));
      assert.ok(d < 1e-4, `step ${i}: ${d}`);
    });
    assert.deepEqual([res.n, res.c, res.h, res.w], [1, 3, 32, 32]);
    // image.npy is NHWC in [0, 1]; ours NCHW in [-1, 1]
    const img = refF('image.npy');
    const ours = new Float32Array(img.length);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) ours[p * 3 + c] = res.images[c * 1024 + p] / 2 + 0.5;
    assert.ok(maxAbsDiff(ours, img) < 1e-3, `image ${maxAbsDiff(ours, img)}`);
    const raw = await gen.sd.decodeLatents(refF('latents_final.npy'), [1, 4, 16, 16]);
    assert.ok(maxAbsDiff(raw.data, refF('vae_decoder_out.npy')) < 1e-3);
    // the PNG bytes as diffusers' numpy_to_pil: round(x * 255)
    const png = Uint8Array.from(img, (v) => Math.round(v * 255));
    let off = 0;
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) off = Math.max(off, Math.abs(res.rgba[0].rgba[p * 4 + c] - png[p * 3 + c]));
    assert.ok(off <= 1, `rgba off by ${off}`);
  });

  it('the VAE encoder gives the latent mean times scaling_factor (train_latents.npy) to 1e-5, the same on every run', async () => {
    const pixels = refF('train_pixels.npy');
    const a = await gen.sd.encodeImages(pixels, 1, 32, 32);
    const b = await gen.sd.encodeImages(pixels, 1, 32, 32);
    assert.deepEqual([...a.dims], [1, 4, 16, 16]);
    assert.ok(maxAbsDiff(a.data, refF('train_latents.npy')) < 1e-5, `${maxAbsDiff(a.data, refF('train_latents.npy'))}`);
    assert.deepEqual(a, b);
  });

  it('img2img: strength 0.5 of 4 steps runs the last 2 from the noised image; a seed repeats; an image file works', async () => {
    const image = refF('train_pixels.npy');
    const seen: number[] = [];
    const o = { prompt: 'a red shoe', steps: 4, height: 32, width: 32, seed: 3, strength: 0.5 } as const;
    const a = await gen({ ...o, image, onStep: ({ t }) => { seen.push(t); } });
    const b = await gen({ ...o, image });
    assert.deepEqual(seen, [251, 1]);
    assert.deepEqual(a.latents, b.latents);
    const c = await gen({ ...o, image: path.join(REF, 'train_image.png') });
    // the PNG is train_pixels.npy to 8 bits: the same run to the rounding of the pixels
    assert.ok(maxAbsDiff(a.latents, c.latents) < 0.05, `${maxAbsDiff(a.latents, c.latents)}`);
  });

  it('a seed gives the same image twice and another seed a different one; every sampler runs', async () => {
    const o = { prompt: 'a red shoe', steps: 3, height: 32, width: 32, n: 2 };
    const a = await gen({ ...o, seed: 1 });
    const b = await gen({ ...o, seed: 1 });
    const c = await gen({ ...o, seed: 2 });
    assert.deepEqual(a.images, b.images);
    assert.ok(maxAbsDiff(a.images, c.images) > 0.01);
    assert.equal(a.rgba.length, 2);
    for (const sampler of ['euler', 'euler-ancestral', 'dpm++2m', 'dpm++2m-karras', 'pndm', 'ddpm', 'heun', 'dpm++2m-sde', 'lms']) {
      const r = await gen({ ...o, n: 1, sampler });
      assert.ok(r.latents.every(Number.isFinite), sampler);
    }
  });

  it('warns through onWarning when a prompt is truncated, and stops on an aborted signal', async () => {
    const warnings: string[] = [];
    await gen({ prompt: 'red '.repeat(90), steps: 1, height: 32, width: 32, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, ['prompt: 15 tokens beyond the text encoder\'s 77 were truncated']);
    const ac = new AbortController();
    await assert.rejects(gen({ prompt: 'x', steps: 4, height: 32, width: 32, signal: ac.signal, onStep: () => ac.abort() }),
      (e: Error) => e.name === 'AbortError');
  });

  it('bad options and inputs get one line naming them', async () => {
    const base = { prompt: 'a', steps: 2, height: 32, width: 32 };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ guidence: 7 }, /^guidence is not an option \(expected one of prompt, negativePrompt/],
      [{ prompt: 3 }, /^prompt must be a string, got number$/],
      [{ steps: 0 }, /^steps must be an integer in \[1, 1000\], got 0$/],
      [{ sampler: 'plms' }, /^sampler "plms" is not a scheduler \(expected one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun\|/],
      [{ height: 30 }, /^height must be a multiple of 8 \(the VAE's scale\), got 30$/],
      [{ latents: new Float32Array(5) }, /^latents must be a Float32Array of 64 values \(\[1, 4, 4, 4\]\) or 64 \(one image's\), got 5$/],
      [{ strength: 0.5 }, /^strength needs an init image/],
      [{ image: new Float32Array(10) }, /^image must be float CHW \[3, 32, 32\] \(3072 values\), got 10 values$/],
      [{ image: { width: 16, height: 16, rgba: new Uint8Array(1024) } }, /^image must be 32x32 \(the output size\), got 16x16$/],
      [{ guidance: -1 }, /^guidance must be a number >= 0, got -1$/],
    ];
    for (const [o, re] of cases) {
      await assert.rejects(gen({ ...base, ...o } as never),
        (e: Error) => e instanceof OptionError && re.test(e.message) && !e.message.includes('\n'), JSON.stringify(Object.keys(o)));
    }
    const notImage = path.join(os.tmpdir(), 'sd-not-an-image.png');
    fs.writeFileSync(notImage, 'hello');
    await assert.rejects(gen({ ...base, image: notImage }),
      (e: Error) => e instanceof FileFormatError && e.message.startsWith(`${notImage}: cannot decode image`));
  });

  it('feeds int64 ids to a text encoder that declares them (as optimum exports it), with the same embeddings', async () => {
    // the fixture's encoder behind a Cast: input_ids int64 -> int32, then the original graph
    const m = onnx.ModelProto.decode(fs.readFileSync(path.join(DIR, 'text_encoder', 'model.onnx')));
    const g = m.graph!;
    for (const n of g.node ?? []) n.input = (n.input ?? []).map((i) => (i === 'input_ids' ? 'input_ids_i32' : i));
    const to = { name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.INT32 };
    g.node = [{ opType: 'Cast', input: ['input_ids'], output: ['input_ids_i32'], attribute: [to] }, ...(g.node ?? [])];
    g.input![0].type!.tensorType!.elemType = onnx.TensorProto.DataType.INT64;
    const dir = variant(['text_encoder'], { 'text_encoder/model.onnx': onnx.ModelProto.encode(m).finish() });
    const g64 = await loadStableDiffusion(dir, { threads: 1 });
    try {
      const { embeddings } = await g64.sd.encodePrompt('a red shoe');
      assert.ok(maxAbsDiff(embeddings, refF('text_embeddings_cond.npy')) < 1e-5);
    } finally {
      await g64.release();
    }
  });

  it('pipeline(dir) of a folder with text_encoder/ is this pipeline', async () => {
    const gen = await pipeline(DIR, { threads: 1 }) as unknown as StableDiffusionPipeline;
    try {
      assert.equal(gen.dir, DIR);
      const a = await gen({ prompt: 'a red shoe', steps: 4, latents: refF('latents_init.npy'), height: 128, width: 128 });
      assert.ok(maxAbsDiff(a.latents, refF('latents_final.npy')) < 1e-4);
    } finally {
      await gen.release();
    }
  });

  it('a folder without a tokenizer, without a UNet, with a bad scheduler config, or not a folder is refused naming the file', async () => {
    const noTok = variant(['tokenizer/tokenizer.json', 'tokenizer/vocab.json']);
    await assert.rejects(loadStableDiffusion(noTok), (e: Error) => e instanceof FileFormatError
      && e.message === `${noTok}/tokenizer: no tokenizer: expected tokenizer.json, or vocab.json and merges.txt (a CLIP tokenizer folder)`);
    const noUnet = variant(['unet']);
    await assert.rejects(loadStableDiffusion(noUnet),
      (e: Error) => e instanceof FileFormatError && e.message.startsWith(`${path.join(noUnet, 'unet/model.onnx')}: not found`));
    const badScheduler = variant(['scheduler'], { 'scheduler/scheduler_config.json': '{"_class_name": "DDIMScheduler", "beta_schedule": "cubic"}' });
    await assert.rejects(loadStableDiffusion(badScheduler),
      (e: Error) => e instanceof DiffusionError
        && e.message.startsWith(`${badScheduler}/scheduler/scheduler_config.json: beta_schedule: "cubic" is not supported`));
    await assert.rejects(loadStableDiffusion(path.join(DIR, 'model_index.json')), (e: Error) => e instanceof DiffusionError && /not a folder/.test(e.message));
  });
});
