import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadState } from '../../src/train/checkpoint';
import { readModelConfig } from '../../src/core/model-config';
import { decodeModel } from '../../src/onnx/proto';
import { writeSolid } from '../data/helpers';
import { repoRoot } from '../helpers/paths';
import { cli } from '../helpers/cli';

/** An MNIST-format IDX file (big-endian header), written independently of src/data. */
function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

const tiny = 'graphs/unet-tiny.json';
const quick = ['--recipe', tiny, '--steps', '5', '--batch', '4', '--threads', '2', '--sample-every', '0'];

describe('onnx-diffusion train (CLI)', function () {
  this.timeout(300_000);
  let tmp: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'train-cli-'));
    const n = 8;
    const px = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 7) % 256);
    mkdirSync(join(tmp, 'idx'));
    writeFileSync(join(tmp, 'idx/train-images-idx3-ubyte.gz'), gzipSync(idx(0x803, [n, 28, 28], px)));
    writeFileSync(join(tmp, 'idx/train-labels-idx1-ubyte'), idx(0x801, [n], Uint8Array.from({ length: n }, (_, i) => i % 10)));
    mkdirSync(join(tmp, 'cifar'));
    const rec = Buffer.alloc(3073 * 4);
    for (let r = 0; r < 4; r++) rec[r * 3073] = r;
    writeFileSync(join(tmp, 'cifar/data_batch_1.bin'), rec);
    for (const [i, c] of ['a', 'b', 'c', 'd'].entries()) {
      await writeSolid(join(tmp, 'folder', `${c}.png`), 20 + i, 20, [40 * i, 80, 200]);
      await writeSolid(join(tmp, 'paired/target', `${c}.png`), 16, 16, [40 * i, 80, 200]);
      await writeSolid(join(tmp, 'paired/cond', `${c}.png`), 16, 16, [200, 40 * i, 80]);
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const data of ['fashion-mnist', 'synthetic:16', 'idx:IDX', 'cifar10:CIFAR', 'folder:FOLDER']) {
    it(`trains 5 steps end to end on --data ${data.split(':')[0]} and writes a loadable checkpoint`, () => {
      const spec = data.replace('IDX', join(tmp, 'idx')).replace('CIFAR', join(tmp, 'cifar')).replace('FOLDER', join(tmp, 'folder'));
      const out = join(tmp, `run-${data.split(':')[0]}`);
      const r = cli('train', ...quick, '--data', spec, '--out', out, '--log-every', '5');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /step 5\/5 {2}loss \d+\.\d+/);
      assert.match(r.stdout, /done: 5 steps/);
      assert.equal(loadState(out).meta.step, 5);
      const inspect = cli('inspect', join(out, 'model.onnx'), '--json');
      assert.equal(inspect.code, 0, inspect.stderr);
    });
  }

  it('trains the image-to-image recipe on --data paired: and samples it with --cond', () => {
    const out = join(tmp, 'run-paired');
    const recipe = join(tmp, 'img2img-16.json');
    writeFileSync(recipe, JSON.stringify({
      image: { channels: 1, size: 16 }, unet: { base: 8, mults: [1, 1], resBlocks: 1, attention: [], heads: 1, groups: 4 },
      conditioning: { condChannels: 1 }, diffusion: { timesteps: 100 },
    }));
    const r = cli('train', '--recipe', recipe, '--steps', '3', '--batch', '2', '--data', `paired:${join(tmp, 'paired')}`, '--out', out, '--sample-every', '0');
    assert.equal(r.code, 0, r.stderr);
    const s = cli('sample', '--model', out, '--cond', join(tmp, 'paired/cond/a.png'), '--n', '2', '--steps', '3', '--out', join(tmp, 'p.png'));
    assert.equal(s.code, 0, s.stderr);
  });

  it('with no --data trains on the full training split where Debian\'s dataset-fashion-mnist is installed, else on the embedded split', () => {
    const out = join(tmp, 'default-data');
    const r = cli('train', '--recipe', tiny, '--steps', '1', '--batch', '2', '--threads', '2', '--sample-every', '0', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const system = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') && existsSync('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz');
    const json = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { options: { data?: string } };
    assert.equal(json.options.data, system ? 'fashion-mnist:full' : 'fashion-mnist');
    const meta = readModelConfig(decodeModel(readFileSync(join(out, 'model.onnx')), 'model.onnx').metadata, 'model.onnx');
    assert.equal(meta?.training?.data, system ? 'fashion-mnist:full' : 'fashion-mnist');
  });

  it('--sample-every writes EMA sample grids during training', () => {
    const out = join(tmp, 'run-samples');
    const r = cli('train', ...quick.slice(0, -2), '--sample-every', '5', '--sample-n', '4', '--data', 'synthetic:16', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(out, 'samples/step-000005.png')));
  });

  it('--device cuda on a machine without CUDA fails before training with the promised message', () => {
    const r = cli('train', ...quick, '--data', 'synthetic:16', '--device', 'cuda', '--out', join(tmp, 'cuda'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: CUDA requested but \S+ (is missing in|is not found by the dynamic loader)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(join(tmp, 'cuda/model.onnx')));
  });

  it('bad flags fail with one line naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--steps', '0'], /--steps must be a positive integer, got 0/],
      [['--batch', '2.5'], /--batch must be a positive integer, got 2.5/],
      [['--ema-decay', '1'], /--ema-decay must be in \[0, 1\), got 1/],
      [['--t-range', '5-9'], /--t-range must look like LO:HI/],
      [['--data', 'nope:x'], /unknown data set kind 'nope'/],
      [['--recipe', 'graphs/missing.json'], /graphs\/missing.json: no such file \(cannot read recipe\)/],
      [['--init', 'x.onnx'], /give only one of --recipe, --init and --resume|x.onnx: no such model file/],
      [['--prediction', 'z'], /Invalid values:[\s\S]*prediction/],
    ];
    for (const [flags, re] of cases) {
      const r = cli('train', '--recipe', tiny, '--out', join(tmp, 'bad'), ...flags);
      assert.equal(r.code, 1, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.ok(!r.stderr.includes('    at '), `stack trace for ${flags.join(' ')}`);
    }
  });

  it('Ctrl-C saves a checkpoint after the current step and exits', async () => {
    const out = join(tmp, 'run-sigint');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--recipe', tiny, '--steps', '100000', '--batch', '4', '--threads', '2', '--sample-every', '0', '--log-every', '1', '--data', 'synthetic:16', '--out', out], { cwd: repoRoot() });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    await new Promise<void>((resolve) => child.stderr.on('data', (d) => {
      stderr += d;
      if (/step 3\//.test(stderr)) resolve();
    }));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stdout, /interrupted: \d+ steps/);
    const st = loadState(out);
    assert.ok(st.meta.step >= 3 && st.meta.step < 100000);
    assert.ok(JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')).step === st.meta.step);
  });
});
