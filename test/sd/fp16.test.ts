/**
 * float16 diffusers folders (optimum --fp16 style) on the tiny-sd fixture, converted to float16 by
 * half-export.ts (all parts, a mixed folder with only the UNet float16, and a UNet whose timestep
 * stays float32).
 *
 * References and tolerances:
 * - Close: the second implementation is the float32 folder with every weight rounded to its float16
 *   value (half-export.ts roundedGraph, on the IR, independent of src/onnx/upcast.ts). The upcast
 *   float16 graph computes the same ops on the same weight values in float32 with no rounding in
 *   between, so only float32 arithmetic may differ: 1e-5 of the largest latent (measured: 0,
 *   bit-identical).
 * - Loose: against the float32 torch reference (test/fixtures/tiny-sd/reference). float16 keeps 11
 *   significant bits (relative rounding 2^-11); we allow one such rounding of the largest latent per
 *   scheduler step: 4 * 2^-11 * max|latents| = 0.035 (measured 0.0043 upcast; 0.024 for ORT's own
 *   float16 run, which rounds every intermediate, so that one gets twice the allowance).
 * - Node by node: each node of the upcast graph, fed the values ORT computed for its inputs in the
 *   unmodified float16 graph, against ORT's float16 output of that node. ORT either computes a
 *   float16 op in float32 and rounds (half an ulp) or in float16 (a few roundings); we allow 4
 *   half-ulps of the output tensor's largest magnitude, 2^-9 * max|y| + 2^-24 (measured at most 1.93
 *   half-ulps, Div).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { OptionError } from '../../src/core/errors';
import { onnx } from '../../src/onnx/onnx-proto';
import { floatToHalf } from '../../src/onnx/tensor';
import { hasFloat16 } from '../../src/onnx/upcast';
import { upcastModelFile } from '../../src/runtime/float32-session';
import { loadStableDiffusion, type StableDiffusionPipeline } from '../../src/runtime/sd';
import type { SdResult } from '../../src/diffusion/sd/pipeline';
import sharp from 'sharp';
import { cliInProcess } from '../helpers/cli';
import { writeHalfFolder, writeRoundedFolder } from './half-export';
import { teacherForced } from './teacher-forced';
import { maxAbs, maxAbsDiff } from '../helpers/close';

const SRC = path.join(__dirname, '..', 'fixtures', 'tiny-sd');
const ref = (name: string) => npyToFloat32(decodeNpy(fs.readFileSync(path.join(SRC, 'reference', `${name}.npy`)), name));
const STEPS = 4;
const HALF_ULP = 2 ** -11;

// the reference run: "a red shoe", 4 DDIM steps, guidance 7.5, the reference's starting latents, 16x16 latents
const CALL = { prompt: 'a red shoe', steps: STEPS, guidance: 7.5, latents: ref('latents_init'), height: 128, width: 128 };

describe('float16 Stable Diffusion folders (tiny-sd converted to float16)', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-sd-fp16-'));
  const dir = (name: string) => path.join(tmp, name);
  const runs = new Map<string, SdResult>();
  const sample = async (folder: string, opts: Record<string, unknown> = {}): Promise<SdResult> => {
    const key = `${folder}|${JSON.stringify(opts)}`;
    if (!runs.has(key)) {
      const gen: StableDiffusionPipeline = await loadStableDiffusion(dir(folder), { threads: 2, ...opts });
      try {
        runs.set(key, await gen(CALL));
      } finally {
        await gen.release();
      }
    }
    return runs.get(key)!;
  };
  const latentsFinal = ref('latents_final');
  const loose = STEPS * HALF_ULP * maxAbs(latentsFinal);

  before(() => {
    writeHalfFolder(SRC, dir('fp16'));
    writeRoundedFolder(SRC, dir('rounded'));
    // mixed folders by links: the UNet of one folder, the rest of the fixture
    link(dir('fp16'), dir('mixed'));
    link(dir('rounded'), dir('rounded-unet'));
  });
  const link = (unetFrom: string, to: string) => {
    fs.mkdirSync(to);
    for (const e of fs.readdirSync(SRC)) if (e !== 'reference') fs.symlinkSync(path.join(e === 'unet' ? unetFrom : SRC, e), path.join(to, e));
  };
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the converted folder is all float16: io, weights (UNet weights in weights.pb) and half the bytes', () => {
    for (const part of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
      const m = onnx.ModelProto.decode(fs.readFileSync(path.join(dir('fp16'), part, 'model.onnx')));
      assert.ok(hasFloat16(m), part);
      const floatIo = [...m.graph!.input!, ...m.graph!.output!].filter((v) => v.name !== 'input_ids');
      assert.deepEqual(floatIo.map((v) => v.type!.tensorType!.elemType), floatIo.map(() => onnx.TensorProto.DataType.FLOAT16), part);
    }
    const bytes = (d: string) => fs.statSync(path.join(d, 'unet', 'weights.pb')).size;
    assert.ok(Math.abs(bytes(dir('fp16')) / bytes(SRC) - 0.5) < 0.01, `${bytes(dir('fp16'))} vs ${bytes(SRC)}`);
  });

  it('samples what the float32 folder with float16-rounded weights samples (close), and the torch reference loosely', async () => {
    const half = await sample('fp16');
    const rounded = await sample('rounded');
    assert.ok(maxAbsDiff(half.latents, rounded.latents) <= 1e-5 * maxAbs(rounded.latents), `${maxAbsDiff(half.latents, rounded.latents)}`);
    assert.ok(maxAbsDiff(half.images, rounded.images) <= 1e-5, `${maxAbsDiff(half.images, rounded.images)}`);
    const d = maxAbsDiff(half.latents, latentsFinal);
    assert.ok(d <= loose, `latents differ from the float32 reference by ${d}, allowed ${loose}`);
    assert.ok(d > 0, 'the float16 weights must change the result a little (else the folder was not converted)');
    const img = ref('vae_decoder_out').map((v) => Math.min(1, Math.max(-1, v)));
    assert.ok(maxAbsDiff(half.images, img) <= (STEPS + 1) * HALF_ULP, `${maxAbsDiff(half.images, img)}`);
  });

  it("precision 'float16' runs the graphs as exported (ORT's CPU kernels, float16 in between) within twice the loose bound", async () => {
    const native = await sample('fp16', { precision: 'float16' });
    const d = maxAbsDiff(native.latents, latentsFinal);
    assert.ok(d <= 2 * loose, `latents differ from the float32 reference by ${d}, allowed ${2 * loose}`);
    // not the upcast's result: ORT rounded the intermediates to float16
    assert.ok(maxAbsDiff(native.latents, (await sample('fp16')).latents) > 1e-4);
  });

  it('a mixed folder (float16 UNet, float32 text encoder and VAE) equals the float32 folder with only the UNet rounded', async () => {
    const mixed = await sample('mixed');
    const rounded = await sample('rounded-unet');
    assert.ok(maxAbsDiff(mixed.latents, rounded.latents) <= 1e-5 * maxAbs(rounded.latents));
    assert.ok(maxAbsDiff(mixed.latents, latentsFinal) <= loose);
  });

  it('a UNet whose timestep input stays float32 gives the same latents (integer timesteps are exact in float16)', async () => {
    writeHalfFolder(SRC, dir('t32-all'), { timestep: 'float32', parts: ['unet'] });
    link(dir('t32-all'), dir('t32'));
    const m = onnx.ModelProto.decode(fs.readFileSync(path.join(dir('t32'), 'unet', 'model.onnx')));
    assert.equal(m.graph!.input!.find((v) => v.name === 'timestep')!.type!.tensorType!.elemType, onnx.TensorProto.DataType.FLOAT);
    // float16 mode, so that the graph's declared input types are what is fed
    const t32 = await sample('t32', { precision: 'float16' });
    const t16 = await sample('mixed', { precision: 'float16' });
    assert.deepEqual([...t32.latents], [...t16.latents]);
  });

  it('img2img on the float16 folder: the VAE encoder (upcast, mean latents) matches the reference mean loosely', async () => {
    const gen = await loadStableDiffusion(dir('fp16'), { threads: 2 });
    try {
      const pixels = ref('train_pixels');
      const { data } = await gen.sd.encodeImages(pixels, 1, 32, 32);
      const mean = ref('train_latents');
      assert.ok(maxAbsDiff(data, mean) <= 4 * HALF_ULP * maxAbs(mean), `${maxAbsDiff(data, mean)}`);
    } finally {
      await gen.release();
    }
  });

  for (const [part, feeds] of [
    ['text_encoder', () => ({ input_ids: new ort.Tensor('int32', Int32Array.from(ref('input_ids_cond')), [1, 77]) })],
    ['vae_decoder', () => ({ latent_sample: new ort.Tensor('float16', Uint16Array.from(ref('vae_decoder_in'), floatToHalf), [1, 4, 16, 16]) })],
  ] as const) {
    it(`${part}: every node of the upcast graph equals ORT on the unmodified float16 graph, node by node`, async () => {
      const outs = await teacherForced(path.join(dir('fp16'), part, 'model.onnx'), feeds());
      assert.ok(outs.length > 100, `${outs.length} float16 node outputs`);
      const ops = new Set<string>();
      for (const o of outs) {
        const tol = 4 * HALF_ULP * maxAbs(o.upcast) + 2 ** -24;
        const d = maxAbsDiff(o.half, o.upcast);
        assert.ok(d <= tol, `${o.opType} node ${o.node} output ${o.value}: differs by ${d}, allowed ${tol}`);
        ops.add(o.opType);
      }
      const expected = part === 'vae_decoder'
        ? ['Conv', 'InstanceNormalization', 'Resize', 'Softmax', 'MatMul']
        : ['MatMul', 'Softmax', 'ReduceMean', 'Pow', 'Sqrt'];
      for (const op of expected) {
        assert.ok(ops.has(op), `${op} was compared`);
      }
    });
  }

  it('an upcast whose float32 weights pass the inline limit streams them to weights.pb in a temporary folder, same session output', async () => {
    const file = path.join(dir('fp16'), 'unet', 'model.onnx');
    const inline = upcastModelFile(file)!;
    const streamed = upcastModelFile(file, undefined, 0)!;
    try {
      assert.ok(inline.bytes && !inline.dir);
      assert.ok(streamed.file && streamed.dir && !streamed.bytes);
      const data = fs.statSync(path.join(streamed.dir, 'weights.pb')).size;
      const half = fs.statSync(path.join(dir('fp16'), 'unet', 'weights.pb')).size;
      assert.ok(data >= 2 * half - 64 * 200 && data <= 2 * half + 64 * 400, `${data} bytes of float32 for ${half} of float16`);
      const feeds = {
        sample: new ort.Tensor('float32', ref('unet_step0_sample'), [2, 4, 16, 16]),
        timestep: new ort.Tensor('float32', new Float32Array([751]), [1]),
        encoder_hidden_states: new ort.Tensor('float32', ref('encoder_hidden_states'), [2, 77, 32]),
      };
      const run = async (src: string | Uint8Array) => {
        const s = typeof src === 'string' ? await ort.InferenceSession.create(src) : await ort.InferenceSession.create(src);
        const out = (await s.run(feeds)).out_sample.data as Float32Array;
        await s.release();
        return out;
      };
      assert.deepEqual([...await run(streamed.file)], [...await run(inline.bytes)]);
      assert.equal(streamed.report.tensors, inline.report.tensors);
    } finally {
      fs.rmSync(streamed.dir!, { recursive: true, force: true });
    }
  });

  // precision for a single model file: test/runtime/fp16-file.test.ts
  it('refuses a bad precision with one line naming the option', async () => {
    await assert.rejects(loadStableDiffusion(dir('fp16'), { precision: 'half' as never }), (e: Error) =>
      e instanceof OptionError && /^precision must be auto, float32 or float16, got "half"$/.test(e.message));
  });

  it('sample --prompt --precision on the float16 folder writes the reference image to one 8-bit level; bad uses are refused', async () => {
    const out = path.join(tmp, 'shoe.png');
    const r = await cliInProcess(['sample', '--model', dir('fp16'), '--prompt', 'a red shoe', '--latents', path.join(SRC, 'reference', 'latents_init.npy'),
      '--steps', '4', '--n', '1', '--height', '128', '--width', '128', '--border', '0', '--threads', '2', '--precision', 'float32', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const got = await sharp(out).removeAlpha().raw().toBuffer();
    const want = await sharp(path.join(SRC, 'reference', 'image.png')).removeAlpha().raw().toBuffer();
    assert.ok(maxAbsDiff(got, want) <= 1, `${maxAbsDiff(got, want)} levels`);
    const bad = await cliInProcess(['sample', '--model', dir('fp16'), '--prompt', 'x', '--precision', 'half']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /precision.*half/);
  });
});
