import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset } from '../../src/data/open';
import { readNpyFile } from '../../src/data/npy-file';
import { loadRecipe } from '../../src/nn/recipe-file';
import { mergedModel, readAdapterFile } from '../../src/runtime/lora-file';
import { buildModel } from '../../src/nn';
import { cliInProcess } from '../helpers/cli';

/**
 * Every reader of a user-named file goes through the bounded, regular-files-only reader: /dev/zero
 * and a named pipe are refused at once without a read (they used to run out of memory or hang),
 * and an oversized file names the limit and the variable that raises it.
 */
describe('bounded reads: devices, FIFOs and oversized files refused for each reader', function () {
  this.timeout(60_000);
  let tmp: string;
  let fifo: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'od-read-'));
    fifo = join(tmp, 'pipe');
    execFileSync('mkfifo', [fifo]);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const readers: [string, (file: string) => unknown, string][] = [
    ['LoRA adapter', (f) => readAdapterFile(f), 'LoRA adapter'],
    ['.npy', (f) => readNpyFile(f), '.npy file'],
    ['recipe', (f) => loadRecipe(f), 'recipe'],
    ['config (export --merge --config)', (f) => mergedModel(buildModel(loadRecipe('graphs/unet-tiny.json')), 'm.onnx', undefined, f), 'config'],
  ];
  for (const [name, read, what] of readers) {
    it(`${name}: /dev/zero and a FIFO are refused at once, naming the file`, () => {
      for (const [file, kind] of [['/dev/zero', 'a character device'], [fifo, 'a named pipe']]) {
        const t = Date.now();
        assert.throws(() => read(file), new RegExp(`^FileFormatError: ${file}: is ${kind}, not a regular file \\(expected: ${what.replace('.', '\\.')}\\)`));
        assert.ok(Date.now() - t < 2000);
      }
    });
  }

  it('manifest: manifest:/dev/zero, a FIFO manifest.jsonl, and a FIFO .npy named in a manifest', async () => {
    await assert.rejects(openDataset('manifest:/dev/zero', { channels: 3, size: 16 }), /^FileFormatError: \/dev\/zero: is a character device, not a regular file \(expected: manifest\)/);
    const d = join(tmp, 'fifo-manifest');
    mkdirSync(d);
    execFileSync('mkfifo', [join(d, 'manifest.jsonl')]);
    await assert.rejects(openDataset(`manifest:${d}`, { channels: 3, size: 16 }), /manifest\.jsonl: is a named pipe/);
    const e = join(tmp, 'fifo-npy');
    mkdirSync(e);
    execFileSync('mkfifo', [join(e, 'emb.npy')]);
    writeFileSync(join(e, 'manifest.jsonl'), '{"image": "a.png", "c": "emb.npy"}\n');
    await assert.rejects(openDataset(`manifest:${e}`, { channels: 3, size: 16 }), /emb\.npy: is a named pipe, not a regular file \(expected: \.npy file\)/);
    const f = join(tmp, 'dir-npy');
    mkdirSync(join(f, 'emb.npy'), { recursive: true });
    writeFileSync(join(f, 'manifest.jsonl'), '{"image": "a.png", "c": "emb.npy"}\n');
    await assert.rejects(openDataset(`manifest:${f}`, { channels: 3, size: 16 }), /emb\.npy: is a directory, not a regular file/);
  });

  it('an oversized file names its limit and the variable that raises it', () => {
    const big = join(tmp, 'big.npy');
    writeFileSync(big, '');
    truncateSync(big, 2 * 2 ** 20);
    process.env.ONNX_DIFFUSION_MAX_NPY_MB = '1';
    try {
      assert.throws(() => readNpyFile(big), /big\.npy: \.npy file of 2\.0 MiB is over the 1\.0 MiB limit \(ONNX_DIFFUSION_MAX_NPY_MB raises it\)/);
    } finally {
      delete process.env.ONNX_DIFFUSION_MAX_NPY_MB;
    }
  });

  it('CLI: export --lora FIFO --merge and a symlink to /dev/zero as adapter end in one line', async () => {
    const link = join(tmp, 'zero.safetensors');
    symlinkSync('/dev/zero', link);
    for (const lora of [fifo, link]) {
      const r = await cliInProcess(['export', '--model', 'models/fashion-mnist/model.onnx', '--lora', lora, '--merge', '--out', join(tmp, 'x.onnx')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^error: ${lora}: is a (named pipe|character device), not a regular file \\(expected: LoRA adapter\\)\\n$`));
    }
  });
});
