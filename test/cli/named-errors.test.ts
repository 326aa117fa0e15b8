import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INTERNAL_HINT, reportError } from '../../src/cli/errors';
import { cliInProcess } from '../helpers/cli';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeAdapter, extractLora, insertLora } from '../../src/nn/lora';

/**
 * The raw TypeErrors and RangeErrors issue 26 listed, each reproduced: every one is now a one-line
 * error naming the flag, file or key; only a truly unexpected error says "internal error".
 */
describe('CLI: the listed raw JS errors are named errors now', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'od-named-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const model = 'models/fashion-mnist/model.onnx';

  const expectLine = async (args: string[], re: RegExp) => {
    const r = await cliInProcess(args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: [^\n]*\n$/);
    assert.ok(!/TypeError|RangeError|internal error/.test(r.stderr), r.stderr);
    assert.match(r.stderr, re);
  };

  it('train --data synthetic:1000000000 (was RangeError: Invalid typed array length)', async () => {
    await expectLine(['train', '--recipe', 'graphs/unet-tiny.json', '--data', 'synthetic:1000000000', '--steps', '1', '--out', join(tmp, 'r')],
      /^error: synthetic:1000000000: 1000000000 images of 1x16x16 need 953\.7 GiB in memory; at most 2097152 fit/);
  });

  it('sample --upscale 100000 and --border 1e9 (were RangeError: Invalid typed array length)', async () => {
    await expectLine(['sample', '--model', model, '--n', '1', '--steps', '1', '--upscale', '100000', '--out', join(tmp, 'a.png')],
      /^error: the grid would be 3200004 x 3200004 pixels \(upscale 100000, border 2\), over the limit of 268,435,456 pixels; lower the upscale or border/);
    await expectLine(['sample', '--model', model, '--n', '2', '--steps', '1', '--border', '1000000000', '--out', join(tmp, 'a.png')],
      /^error: the grid would be \d+ x \d+ pixels \(upscale 1, border 1000000000\)/);
  });

  it('train --lora 1000000000 (was RangeError: Invalid array length)', async () => {
    await expectLine(['train', '--init', model, '--data', 'synthetic:8', '--lora', '1000000000', '--steps', '1', '--out', join(tmp, 'l')],
      /^error: --lora 1000000000 exceeds min\(in, out\) = \d+ of '[^']+' \(a higher rank adds nothing\)\n?$/);
  });

  it('adapter headers null, {"a": null} and "shape": 5 (were TypeErrors)', async () => {
    const cases: [string, RegExp][] = [
      ['null', /header is not a JSON object/],
      ['{"a": null}', /tensor 'a' is not an object with dtype, shape and data_offsets/],
      ['{"a": {"dtype": "F32", "shape": 5, "data_offsets": [0, 4]}}', /tensor 'a' has shape 5 \(a list of non-negative integers expected\)/],
      ['{"__metadata__": 5}', /__metadata__ is not an object of strings/],
    ];
    for (const [header, re] of cases) {
      const file = join(tmp, 'bad.safetensors');
      const h = Buffer.from(header);
      const b = Buffer.alloc(8 + h.length + 16);
      b.writeBigUInt64LE(BigInt(h.length), 0);
      h.copy(b, 8);
      writeFileSync(file, b);
      await expectLine(['export', '--model', model, '--lora', file, '--merge', '--out', join(tmp, 'm.onnx')], new RegExp(`^error: ${file}: not a readable safetensors file: ${re.source}`));
    }
  });

  it('an adapter that does not fit the model names the adapter file (LoRA fit errors named no file)', async () => {
    const file = join(tmp, 'tiny-adapter.safetensors');
    writeFileSync(file, encodeAdapter(extractLora(insertLora(buildModel(loadRecipe('graphs/unet-tiny.json')), { rank: 2 })).adapter));
    await expectLine(['export', '--model', model, '--lora', file, '--merge', '--out', join(tmp, 'm.onnx')],
      new RegExp(`^error: ${file}: does not fit ${model}: LoRA adapter: the model has no weight '`));
  });

  it('a truly unexpected error is one line that says "internal error" and how to report it', () => {
    const err = process.stderr.write.bind(process.stderr);
    let out = '';
    process.stderr.write = ((c: string) => ((out += c), true)) as typeof process.stderr.write;
    try {
      assert.equal(reportError(new TypeError("Cannot read properties of null (reading 'dtype')\nmore"), false), 1);
    } finally {
      process.stderr.write = err;
    }
    assert.equal(out, `error: internal error: TypeError: Cannot read properties of null (reading 'dtype') ${INTERNAL_HINT}\n`);
  });
});
