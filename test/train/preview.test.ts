import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../src/data/npy';
import { readNpyFile } from '../../src/data/npy-file';
import { writeTokenManifest } from '../data/manifest-helpers';
import { cliInProcess } from '../helpers/cli';
import { fixture } from '../helpers/paths';
import { tempDir } from '../runtime/fakes';

/**
 * Issue 26 item 3: the documented text-conditioned workflow with previews. The preview sample had
 * no conditioning and ended the run (`encoder_hidden_states: missing input`); now it takes the
 * first batch's inputs (stored with the run), a failing preview is reported and training goes on,
 * and a resumed run takes a new --sample-every.
 */
describe('training previews of a text-conditioned model (torch-textcond-16px, manifest data)', function () {
  this.timeout(180_000);
  let tmp: string;
  const samples = (out: string) => (existsSync(join(out, 'samples')) ? readdirSync(join(out, 'samples')).filter((n) => n.endsWith('.png')).sort() : []);
  const base = (out: string) => ['train', '--init', fixture('torch-textcond-16px.onnx'), '--config', fixture('torch-textcond-16px.json'),
    '--data', `manifest:${join(tmp, 'data')}`, '--batch', '2', '--threads', '1', '--sample-n', '2', '--out', out];
  before(async () => {
    tmp = tempDir('preview');
    await writeTokenManifest(join(tmp, 'data'), 4);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('--sample-every 2 writes conditioned previews and stores the first batch\'s inputs with the run', async () => {
    const out = join(tmp, 'run');
    const r = await cliInProcess([...base(out), '--steps', '4', '--sample-every', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!/warning/.test(r.stderr), r.stderr);
    assert.deepEqual(samples(out), ['step-000002.png', 'step-000004.png']);
    const stored = readNpyFile(join(out, 'preview', 'encoder_hidden_states.npy'));
    assert.deepEqual(stored.shape, [2, 64]);
  });

  it('with --lora 4 too (the run used to die at step 2 and leave no folder)', async () => {
    const out = join(tmp, 'lora');
    const r = await cliInProcess([...base(out), '--steps', '2', '--sample-every', '2', '--lora', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(samples(out), ['step-000002.png']);
  });

  it('resume honours a new --sample-every (0 stops previews), and a failing preview never ends the run', async () => {
    const out = join(tmp, 'run');
    let r = await cliInProcess(['train', '--resume', out, '--steps', '6', '--sample-every', '0', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(samples(out), ['step-000002.png', 'step-000004.png']);
    // A stored input of the wrong shape makes the preview fail: reported, and training goes on to its checkpoint.
    writeFileSync(join(out, 'preview', 'encoder_hidden_states.npy'), encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(6) }));
    r = await cliInProcess(['train', '--resume', out, '--steps', '7', '--sample-every', '1', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^warning: the preview sample at step 7 failed, training continues: .*encoder_hidden_states/m);
    assert.ok(!/^error:/m.test(r.stderr), r.stderr);
    writeFileSync(join(out, 'preview', 'encoder_hidden_states.npy'), encodeNpy({ dtype: 'float32', shape: [2, 64], data: new Float32Array(128) }));
    r = await cliInProcess(['train', '--resume', out, '--steps', '8', '--sample-every', '1', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(samples(out), ['step-000002.png', 'step-000004.png', 'step-000008.png']);
  });
});
