/**
 * `sample --model DIR --prompt ...` on the tiny-sd fixture: the written PNG against diffusers'
 * reference image (given the reference latents), img2img from an image file, and one-line errors
 * naming the flag.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { cliInProcess } from '../helpers/cli';
import { fixture, repoRoot } from '../helpers/paths';

const DIR = fixture('tiny-sd');
const REF = path.join(DIR, 'reference');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('onnx-diffusion sample --prompt (Stable Diffusion folder)', function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sample-sd-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writes diffusers\' reference image from the reference latents (4 DDIM steps, guidance 7.5), to one 8-bit level', async () => {
    const out = path.join(tmp, 'shoe.png');
    const r = await cliInProcess(['sample', '--model', DIR, '--prompt', 'a red shoe', '--latents', path.join(REF, 'latents_init.npy'), '--steps', '4',
      '--n', '1', '--height', '128', '--width', '128', '--border', '0', '--threads', '2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sampled 1 images in .*\nwrote .*shoe\.png \(32x32\)\n$/);
    const got = await sharp(out).removeAlpha().raw().toBuffer();
    const want = await sharp(path.join(REF, 'image.png')).removeAlpha().raw().toBuffer();
    assert.equal(got.length, want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst <= 1, `largest difference ${worst} levels`);
  });

  it('img2img from an image file: --init and --strength, with another scheduler', async () => {
    const out = path.join(tmp, 'i2i.png');
    const r = await cliInProcess(['sample', '--model', DIR, '--prompt', 'a red shoe', '--negative-prompt', 'blue', '--init', path.join(REF, 'train_image.png'),
      '--strength', '0.5', '--steps', '4', '--sampler', 'euler-ancestral', '--guidance', '5', '--n', '2', '--height', '32', '--width', '32',
      '--border', '0', '--threads', '2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const m = await sharp(out).metadata();
    assert.deepEqual([m.width, m.height], [64, 32]);
  });

  it('refuses mismatched flags and bad values in one line naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--model', DIR], /^--model .*tiny-sd is a text-to-image pipeline \(it has text_encoder\/\): pass --prompt "\.\.\." \(or --input encoder_hidden_states=FILE\.npy to run its UNet alone\)$/],
      [['--model', fixture('torch-unet-16px.onnx'), '--prompt', 'x'], /^--prompt needs a diffusers ONNX folder with text_encoder\/ as --model; .* is not one$/],
      [['--model', DIR, '--prompt', 'x', '--sampler', 'plms'],
        /^--sampler "plms" is not a scheduler \(expected one of ddpm\|ddim\|dpm\+\+2m\|dpm\+\+2m-sde\|euler\|heun\|/],
      [['--model', DIR, '--prompt', 'x', '--guidance', '-1'], /^--guidance must be a number >= 0, got -1$/],
      [['--model', DIR, '--prompt', 'x', '--strength', '0.5'], /^--strength needs --init IMAGE$/],
      [['--model', DIR, '--prompt', 'x', '--class', '1'], /^--class does not apply to a Stable Diffusion folder \(--prompt\)$/],
      [['--model', DIR, '--prompt', 'x', '--init', path.join(REF, 'image.npy'), '--height', '32', '--width', '32'], /: cannot decode image/],
    ];
    for (const [args, re] of cases) {
      const r = await cliInProcess(['sample', '--n', '1', '--steps', '1', '--threads', '1', '--out', path.join(tmp, 'x.png'), ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0].replace(/^error: /, ''), re);
    }
    const help = cli('sample', '--help');
    assert.match(help.stdout, /--prompt +Text prompt/);
    assert.match(help.stdout, /--negative-prompt/);
  });
});
