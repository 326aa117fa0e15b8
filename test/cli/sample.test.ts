import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildModel, loadRecipe, validateRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import { fixture, repoRoot } from '../helpers/paths';
import { cli } from '../helpers/cli';

const FIXTURE = fixture('torch-unet-16px.onnx');
const FIXTURE_JSON = fixture('torch-unet-16px.json');

/** Grid arithmetic, independent of src/image: cells of s*k pixels with `border` around and between. */
function gridSize(n: number, s: number, k: number, border: number, cols = Math.ceil(Math.sqrt(n))): [number, number] {
  const rows = Math.ceil(n / cols);
  return [cols * s * k + (cols + 1) * border, rows * s * k + (rows + 1) * border];
}

async function size(file: string): Promise<[number, number, number]> {
  const m = await sharp(file, { animated: true }).metadata();
  return [m.width!, m.pageHeight ?? m.height!, m.pages ?? 1];
}

/** A model built from unet-tiny with extra conditioning, written to `dir/name.onnx`. */
function writeModel(dir: string, name: string, conditioning?: object): string {
  const base = loadRecipe(path.join(repoRoot(), 'graphs', 'unet-tiny.json'));
  const recipe = conditioning ? validateRecipe({ ...JSON.parse(JSON.stringify(base)), conditioning }, name) : base;
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, encodeModel(buildModel(recipe)));
  return file;
}

describe('onnx-diffusion sample', function () {
  this.timeout(180_000);
  let tmp: string;
  let tiny: string;
  let classes: string;
  let condModel: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sample-test-'));
    tiny = writeModel(tmp, 'tiny');
    classes = writeModel(tmp, 'classes', { classes: 3 });
    condModel = writeModel(tmp, 'cond', { condChannels: 1 });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const out = (name: string) => path.join(tmp, name);

  it('writes a grid whose size follows n, upscale and border, plus --each and a GIF of the process', async () => {
    const each = out('each');
    const r = cli('sample', '--model', tiny, '--n', '6', '--steps', '8', '--upscale', '2', '--out', out('grid.png'),
      '--each', each, '--process', out('process.gif'), '--process-steps', '0,3,7');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^sampled 6 images in [\d.]+ s \([\d.]+ steps\/s\)$/m);
    assert.deepEqual(await size(out('grid.png')), [...gridSize(6, 16, 2, 2), 1]);
    assert.deepEqual(fs.readdirSync(each).sort(), ['000.png', '001.png', '002.png', '003.png', '004.png', '005.png']);
    assert.deepEqual(await size(path.join(each, '003.png')), [32, 32, 1]);
    assert.deepEqual(await size(out('process.gif')), [...gridSize(6, 16, 2, 2), 3]);
  });

  it('writes the process as a strip: one row per image, 8 evenly spaced steps by default', async () => {
    const r = cli('sample', '--model', tiny, '--n', '3', '--steps', '20', '--border', '1', '--cols', '3', '--out', out('g3.png'), '--process', out('strip.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('g3.png')), [...gridSize(3, 16, 1, 1, 3), 1]);
    assert.deepEqual(await size(out('strip.png')), [8 * 16 + 9, 3 * 16 + 4, 1]);
    assert.match(r.stdout, /8 steps: 0,3,5,8,11,14,16,19/);
  });

  it('an animated WebP gets one frame per step up to 40 by default', async () => {
    const r = cli('sample', '--model', tiny, '--n', '2', '--steps', '5', '--out', out('g5.png'), '--process', out('p.webp'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await size(out('p.webp')))[2], 5);
  });

  it('heun records one frame per network call: 2n - 1 for n steps', async () => {
    const r = cli('sample', '--model', tiny, '--n', '2', '--sampler', 'heun', '--steps', '3', '--out', out('gh.png'), '--process', out('heun.webp'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await size(out('heun.webp')))[2], 5);
  });

  it('the same seed gives identical bytes, another seed different ones', () => {
    const run = (seed: string, name: string) => {
      const r = cli('sample', '--model', tiny, '--n', '4', '--steps', '5', '--seed', seed, '--out', out(name));
      assert.equal(r.code, 0, r.stderr);
      return fs.readFileSync(out(name));
    };
    const a = run('7', 'a.png');
    const b = run('7', 'b.png');
    const c = run('8', 'c.png');
    assert.ok(a.equals(b), 'same seed, same bytes');
    assert.ok(!a.equals(c), 'different seed, different bytes');
  });

  it('batched sampling gives the same grid size, with ddpm, dpm++2m, euler and heun', async () => {
    for (const sampler of ['ddpm', 'dpm++2m', 'euler', 'heun']) {
      const r = cli('sample', '--model', tiny, '--n', '5', '--batch', '2', '--sampler', sampler, '--steps', '4', '--out', out(`${sampler}.png`));
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await size(out(`${sampler}.png`)), [...gridSize(5, 16, 1, 2), 1]);
    }
  });

  it('samples the PyTorch fixture with its JSON config', async () => {
    const r = cli('sample', '--model', FIXTURE, '--config', FIXTURE_JSON, '--n', '4', '--steps', '5', '--upscale', '3', '--out', out('torch.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('torch.png')), [...gridSize(4, 16, 3, 2), 1]);
  });

  it('a class-conditional model takes --class (id) and --guidance', async () => {
    const r = cli('sample', '--model', classes, '--n', '2', '--steps', '3', '--class', '2', '--guidance', '3', '--out', out('cls.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await size(out('cls.png')), [...gridSize(2, 16, 1, 2), 1]);
  });

  it('an image-conditioned model reads --cond at its size, a super-resolution one at lowResSize', async () => {
    const img = out('cond-src.png');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toFile(img);
    const r = cli('sample', '--model', condModel, '--n', '2', '--steps', '3', '--cond', img, '--out', out('cond.png'));
    assert.equal(r.code, 0, r.stderr);
    const sr = writeModel(tmp, 'sr', { condChannels: 1, lowResSize: 8 });
    const s = cli('sample', '--model', sr, '--n', '2', '--steps', '3', '--cond', img, '--out', out('sr.png'));
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(await size(out('sr.png')), [...gridSize(2, 16, 1, 2), 1]);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown sampler', ['--sampler', 'plms'], /^error: --sampler must be one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun, got "plms"$/],
    ['steps above T', ['--steps', '1001'], /^error: --steps must be an integer in \[1, 1000\] for ddim, got 1001$/],
    ['eta outside [0, 1]', ['--eta', '1.5'], /^error: --eta must be in \[0, 1\], got 1\.5$/],
    ['eta with ddpm', ['--sampler', 'ddpm', '--eta', '0.5'], /^error: --eta applies to the ddim sampler only \(not ddpm\)$/],
    ['spacing with euler', ['--sampler', 'euler', '--spacing', 'trailing'], /^error: --spacing does not apply to euler \(it steps on the Karras sigma grid\)$/],
    ['n < 1', ['--n', '0'], /^error: --n must be a positive integer, got 0$/],
    ['fractional upscale', ['--upscale', '1.5'], /^error: --upscale must be a positive integer, got 1\.5$/],
    ['--class on an unconditional model', ['--class', '1'], /^error: --class given but the model is not class-conditional$/],
    ['--cond on an unconditioned model', ['--cond', 'x.png'], /^error: --cond given but the model takes no condition image$/],
    ['bad output extension', ['--out', 'grid.bmp'], /^error: --out grid\.bmp: unsupported extension '\.bmp'/],
    ['process step out of range', ['--steps', '10', '--process', 'p.gif', '--process-steps', '0,10'], /^error: --process-steps: step 10 is outside \[0, 9\]/],
    ['unknown device', ['--device', 'tpu'], /^error: --device must be cpu or cuda, got "tpu"$/],
  ];
  for (const [what, flags, message] of bad) {
    it(`rejects ${what} with one line`, () => {
      const r = cli('sample', '--model', tiny, ...(flags.includes('--out') ? [] : ['--out', out('never.png')]), ...flags);
      assert.equal(r.code, 1);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!fs.existsSync(out('never.png')));
    });
  }

  it('rejects a missing model, a foreign model without --config, and a broken config', () => {
    const missing = cli('sample', '--model', out('nope.onnx'), '--out', out('never.png'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr.trim(), /^error: .*nope\.onnx: no such file$/);
    const noConfig = cli('sample', '--model', FIXTURE, '--out', out('never.png'));
    assert.equal(noConfig.code, 1);
    assert.match(noConfig.stderr.trim(), /carries no onnx-diffusion metadata; pass its config \(--config: a JSON file\)$/m);
    const broken = out('broken.json');
    fs.writeFileSync(broken, '{"image": {"channels": 1,');
    const badJson = cli('sample', '--model', FIXTURE, '--config', broken, '--out', out('never.png'));
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr.trim(), /^error: .*broken\.json: invalid JSON/);
  });

  it('rejects a missing --cond for an image-conditioned model and a class outside the range', () => {
    const noCond = cli('sample', '--model', condModel, '--out', out('never.png'));
    assert.equal(noCond.code, 1);
    assert.match(noCond.stderr.trim(), /^error: the model is image-conditioned \(1 channels\): pass --cond image\.png$/);
    const badClass = cli('sample', '--model', classes, '--class', '3', '--out', out('never.png'));
    assert.equal(badClass.code, 1);
    assert.match(badClass.stderr.trim(), /^error: --class 3 is outside \[0, 2\] \(the model has 3 classes\)$/);
  });
});
