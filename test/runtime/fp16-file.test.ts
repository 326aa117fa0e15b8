/**
 * A bare float16 model FILE (not a diffusers folder): loadModel / pipeline / sample `precision`, and
 * `train --init FILE`. The float16 files are made without Python by test/sd/half-export.ts (the
 * conversion onnxruntime's float16.py makes) from the tiny-sd UNet (external weights) and from
 * torch-unet-16px (inline weights), into a temporary folder.
 *
 * References and tolerances:
 * - Widened ('auto' on the CPU, 'float32'): the second implementation is the float32 file with every
 *   weight rounded to its float16 value (half-export.ts roundedGraph, on the IR, independent of
 *   src/onnx/upcast.ts). Both compute the same ops on the same values in float32, so the outputs
 *   are bit-identical (measured: equal), and so are the training losses.
 * - As exported ('float16'): ORT rounds every intermediate to float16. Against the widened run we
 *   allow 4 half-ulps of the output's largest magnitude, 4 * 2^-11 * max|y|: the output itself is
 *   rounded once (1 half-ulp), and test/sd/fp16.test.ts shows each node's float16 result within 4
 *   half-ulps of its float32 one; the UNet's normalisations keep those from compounding (measured
 *   on the tiny UNet: 1.7 half-ulps, 1.09e-3 at max|y| 1.28).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { pipeline, train } from '../../src';
import { OptionError } from '../../src/core/errors';
import { decodeNpy, npyToFloat32 } from '../../src/data/npy';
import { loadModel } from '../../src/runtime/load';
import type { DiffusionModel } from '../../src/runtime/model';
import { encodeModelToFiles, readModelFiles } from '../../src/runtime/model-files';
import type { Graph } from '../../src/onnx/ir';
import { float32Session, upcastModelFile } from '../../src/runtime/float32-session';
import { DiffusionError } from '../../src/core/errors';
import { loadModel as loadWebModel } from '../../src/web';
import { cliInProcess } from '../helpers/cli';
import { fixture } from '../helpers/paths';
import { halfGraph, roundedGraph } from '../sd/half-export';
import { maxAbs, maxAbsDiff } from '../helpers/close';

const ref = (name: string) => npyToFloat32(decodeNpy(fs.readFileSync(fixture(`tiny-sd/reference/${name}.npy`)), name));
/** The tiny UNet's own schedule (SD 1.5's), for loading it as a bare file. */
const BARE = { image: { channels: 4, size: 16 }, diffusion: { schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012 } };
const TORCH = { onnx: fixture('torch-unet-16px.onnx'), json: fixture('torch-unet-16px.json') };
const HALF_ULP = 2 ** -11;

/** Step 0 of the tiny-sd reference run: batch 2, t = 751, the reference's text embeddings. */
function step0(model: DiffusionModel): Promise<Float32Array> {
  const latents = ref('latents_init');
  const x = new Float32Array(2 * latents.length);
  x.set(latents, 0);
  x.set(latents, latents.length);
  return model.run(x, Int32Array.from([751, 751]), { inputs: { encoder_hidden_states: ref('encoder_hidden_states') } });
}

describe('float16 model files: precision and train --init (tiny-sd UNet and torch-unet-16px as float16)', function () {
  this.timeout(60_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-fp16-file-'));
  const file = (name: string) => path.join(tmp, name);
  /** Writes `convert(graph)` of `src` as `dst` (external data in `<dst>.data` when `external`). */
  const write = (src: string, dst: string, convert: (g: Graph) => Graph, external: boolean) => {
    const m = readModelFiles(src);
    encodeModelToFiles({ ...m, graph: convert(m.graph) }, file(dst), external ? { externalData: true, location: `${dst}.data` } : { externalData: false });
  };
  const unetTimestep = { float32Cone: ['timestep'] };
  const torchTimestep = { float32Cone: ['t'] };
  const opened: DiffusionModel[] = [];
  /** Step 0 of the widened float16 UNet (the first test's, reused). */
  let widenedStep0: Float32Array | undefined;
  const open = async (name: string, o: Parameters<typeof loadModel>[1] = {}) => {
    const m = await loadModel(file(name), { config: BARE, threads: 2, ...o });
    opened.push(m);
    return m;
  };

  before(() => {
    const unet = fixture('tiny-sd/unet/model.onnx');
    write(unet, 'unet-fp16.onnx', (g) => halfGraph(g, unetTimestep), true);
    write(unet, 'unet-rounded.onnx', (g) => roundedGraph(g, unetTimestep), true);
    write(TORCH.onnx, 'torch-fp16.onnx', (g) => halfGraph(g, torchTimestep), false);
    write(TORCH.onnx, 'torch-rounded.onnx', (g) => roundedGraph(g, torchTimestep), false);
  });
  after(async () => {
    await Promise.all(opened.map((m) => m.dispose()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('auto on the CPU widens the float16 UNet (external weights): float32 feeds, output bit-identical to the float16-rounded float32 file', async () => {
    const widened = await open('unet-fp16.onnx');
    assert.equal(widened.io.declared[widened.io.sample].dtype, 'float32');
    assert.equal(widened.io.declared[widened.io.timestep].dtype, 'float32');
    const rounded = await open('unet-rounded.onnx');
    widenedStep0 = await step0(widened);
    assert.deepEqual(widenedStep0, await step0(rounded));
  });

  it("'float16' runs the file as exported (float16 feeds) within 4 half-ulps of the widened run", async () => {
    const half = await open('unet-fp16.onnx', { precision: 'float16' });
    assert.equal(half.io.declared[half.io.sample].dtype, 'float16');
    const widened = widenedStep0 ?? await step0(await open('unet-fp16.onnx'));
    const asExported = await step0(half);
    const d = maxAbsDiff(asExported, widened);
    assert.ok(d <= 4 * HALF_ULP * maxAbs(widened), `${d} vs ${4 * HALF_ULP * maxAbs(widened)}`);
    assert.ok(d > 0, 'the float16 run computed in float32: it was widened');
  });

  it("the web entry's loadModel widens it on wasm (auto), float16 weights from sessionOptions.externalData; else one line names the file", async () => {
    const bytes = fs.readFileSync(file('unet-fp16.onnx'));
    const data = new Uint8Array(fs.readFileSync(file('unet-fp16.onnx.data')));
    const web = await loadWebModel(bytes, { numThreads: 1, config: BARE, sessionOptions: { externalData: [{ path: 'unet-fp16.onnx.data', data }] } });
    opened.push(web);
    assert.equal(web.io.declared[web.io.sample].dtype, 'float32');
    const widened = widenedStep0 ?? await step0(await open('unet-fp16.onnx'));
    // ORT's wasm build and the CPU provider sum in other orders: float32 rounding of a 3,193-node graph (measured 1.8e-6 at max 1.28)
    const d = maxAbsDiff(await step0(web), widened);
    assert.ok(d <= 1e-5 * maxAbs(widened), `${d}`);
    await assert.rejects(loadWebModel(bytes, { numThreads: 1, config: BARE, precision: 'float32' }), (e: Error) => e instanceof DiffusionError
      && e.message === "model: its float16 weights are in 'unet-fp16.onnx.data'; "
        + "give its bytes in sessionOptions.externalData ([{ path: 'unet-fp16.onnx.data', data }])");
  });

  it('widens model bytes (no path) too, and pipeline(file, { precision }) samples what the rounded file samples', async () => {
    const bytes = fs.readFileSync(file('torch-fp16.onnx'));
    const fromBytes = await loadModel(bytes, { config: TORCH.json, threads: 2 });
    opened.push(fromBytes);
    assert.equal(fromBytes.io.declared[fromBytes.io.sample].dtype, 'float32');
    const call = { n: 2, steps: 3, seed: 4, sampler: 'ddim' as const };
    const gen = await pipeline(file('torch-fp16.onnx'), { config: TORCH.json, threads: 2, precision: 'float32' });
    const want = await pipeline(file('torch-rounded.onnx'), { config: TORCH.json, threads: 2 });
    try {
      assert.deepEqual((await gen(call)).images, (await want(call)).images);
    } finally {
      await gen.dispose();
      await want.dispose();
    }
  });

  it('refuses a bad precision in one line naming the option, and precision for a model loaded already', async () => {
    await assert.rejects(loadModel(file('torch-fp16.onnx'), { config: TORCH.json, precision: 'half' as never }), (e: Error) =>
      e instanceof OptionError && e.message === 'precision must be auto, float32 or float16, got "half"');
    await assert.rejects(pipeline(file('torch-fp16.onnx'), { config: TORCH.json, precision: 'bfloat16' as never }), (e: Error) =>
      e instanceof OptionError && /^precision .*bfloat16/.test(e.message));
    const m = await loadModel(file('torch-fp16.onnx'), { config: TORCH.json, threads: 2 });
    opened.push(m);
    await assert.rejects(pipeline(m, { precision: 'float16' }), (e: Error) =>
      e instanceof OptionError && e.message.startsWith('precision applies when pipeline() loads the model'));
  });

  it('sample --model FILE --precision: float32 writes the rounded file\'s image; --precision without --model is refused', async () => {
    const png = (name: string) => path.join(tmp, name);
    const common = ['--config', TORCH.json, '--n', '2', '--steps', '3', '--sampler', 'ddim', '--threads', '2'];
    const a = await cliInProcess(['sample', '--model', file('torch-fp16.onnx'), ...common, '--precision', 'float32', '--out', png('half.png')]);
    assert.equal(a.code, 0, a.stderr);
    const b = await cliInProcess(['sample', '--model', file('torch-rounded.onnx'), ...common, '--out', png('rounded.png')]);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(fs.readFileSync(png('half.png')).equals(fs.readFileSync(png('rounded.png'))));
    const c = await cliInProcess(['sample', '--model', file('torch-fp16.onnx'), ...common, '--precision', 'float16', '--out', png('as-exported.png')]);
    assert.equal(c.code, 0, c.stderr);
    const bad = await cliInProcess(['sample', '--ensemble', TORCH.json, '--precision', 'float16']);
    assert.match(bad.stderr, /--precision needs --model/);
  });

  it('a float32 model (external weights) with only its sample input float16: auto leaves it as it is; its float32 upcast moves the weights along', async () => {
    const m = readModelFiles(TORCH.onnx);
    // x float16, Cast to the float32 the graph computes with
    for (const n of m.graph.nodes) n.inputs = n.inputs.map((v) => (v === 'x' ? 'x_f32' : v));
    m.graph.inputs = m.graph.inputs.map((v) => (v.name === 'x' ? { ...v, dtype: 'float16' } : v));
    m.graph.nodes.unshift({ name: 'x_cast', opType: 'Cast', domain: '', inputs: ['x'], outputs: ['x_f32'], attrs: { to: { type: 'int', value: 1 } } });
    encodeModelToFiles(m, file('torch-x16.onnx'), { externalData: true, location: 'torch-x16.onnx.data' });
    const asIs = await open('torch-x16.onnx', { config: TORCH.json });
    assert.equal(asIs.io.declared[asIs.io.sample].dtype, 'float16');
    // values exact in float16, so that the float16 feed and the widened float32 one carry the same numbers
    const x = Float32Array.from({ length: 2 * 256 }, (_, k) => ((k * 37) % 64) / 32 - 1);
    const want = await asIs.run(x, Int32Array.from([10, 900]));
    const feeds = { x: new ort.Tensor('float32', x, [2, 1, 16, 16]), t: new ort.Tensor('int64', BigInt64Array.from([10n, 900n]), [2]) };
    // the folder path's upcast (precision float32 on a mixed folder): a session from bytes, not beside torch-x16.onnx.data
    const inline = (await float32Session(file('torch-x16.onnx'), undefined, { intraOpNumThreads: 2 }))!;
    try {
      assert.deepEqual((await inline.run(feeds)).out.data, want);
    } finally {
      await inline.release();
    }
    // past the inline limit (0 here), they stream into the temporary weights.pb with the widened ones
    const streamed = upcastModelFile(file('torch-x16.onnx'), undefined, 0)!;
    try {
      const session = await ort.InferenceSession.create(streamed.file!, { intraOpNumThreads: 2 });
      assert.deepEqual((await session.run(feeds)).out.data, want);
      await session.release();
    } finally {
      fs.rmSync(streamed.dir!, { recursive: true, force: true });
    }
  });

  it('train --init FILE trains the float32 copy: losses equal the rounded file\'s, and the checkpoint holds float32 weights', async () => {
    const run = (name: string) => train({
      init: file(name), config: TORCH.json, data: 'synthetic:16', steps: 3, batch: 4, lr: 1e-3, warmup: 0, emaDecay: 0,
      threads: 2, sampleEvery: 0, seed: 2, out: file(`run-${name}`),
    });
    const half = await run('torch-fp16.onnx');
    const rounded = await run('torch-rounded.onnx');
    assert.equal(half.losses.length, 3);
    assert.deepEqual(half.losses, rounded.losses);
    const trained = readModelFiles(path.join(file('run-torch-fp16.onnx'), 'model.onnx'));
    const dtypes = new Set([...trained.graph.initializers.values()].map((t) => t.dtype));
    assert.ok(!dtypes.has('float16'), `checkpoint initializer dtypes: ${[...dtypes].join(', ')}`);
    assert.deepEqual(trained.graph.inputs.map((v) => v.dtype), ['float32', 'int64']);
  });
});
