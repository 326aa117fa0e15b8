import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { onnx } from '../../src/onnx/onnx-proto';
import { encodeNpy, decodeNpy } from '../../src/data/npy';
import { fixture, repoRoot } from '../helpers/paths';

const TINY = fixture('tiny-sd');

/** The CLI from source, run in `cwd` (tsx found by absolute path, so any folder works). */
function cliIn(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const tsx = pathToFileURL(path.join(repoRoot(), 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, path.join(repoRoot(), 'src', 'cli', 'main.ts'), ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('inspect and sample on a diffusers export with external data (tiny-sd)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'od-real-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('inspect DIR counts the weights in weights.pb as protobufjs reads the dims, without reading the data', () => {
    const r = cliIn(tmp, 'inspect', TINY, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    const m = onnx.ModelProto.decode(fs.readFileSync(path.join(TINY, 'unet', 'model.onnx')));
    let parameters = 0;
    let external = 0;
    for (const t of m.graph!.initializer!) {
      if (t.dataType === onnx.TensorProto.DataType.FLOAT) parameters += (t.dims ?? []).reduce<number>((p, d) => p * Number(d), 1);
      if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) external++;
    }
    assert.equal(s.file, path.join(TINY, 'unet', 'model.onnx'));
    assert.equal(s.initializers.parameters, parameters);
    assert.equal(s.initializers.count, m.graph!.initializer!.length);
    assert.deepEqual(s.externalData, { tensors: external, bytes: fs.statSync(path.join(TINY, 'unet', 'weights.pb')).size, files: ['weights.pb'] });
    assert.deepEqual(s.inputs.map((i: { name: string }) => i.name), ['sample', 'timestep', 'encoder_hidden_states']);
  });

  it('inspect refuses external data that leaves the folder, in one line naming tensor and location', () => {
    const m = onnx.ModelProto.decode(fs.readFileSync(path.join(TINY, 'unet', 'model.onnx')));
    const t = m.graph!.initializer!.find((i) => i.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)!;
    t.externalData!.find((e) => e.key === 'location')!.value = '../unet/weights.pb';
    const file = path.join(tmp, 'escape.onnx');
    fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
    const r = cliIn(tmp, 'inspect', file);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`escape\\.onnx: tensor '${t.name!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': external data location '\\.\\./unet/weights\\.pb' goes up with '\\.\\.'`));
  });

  it('sample --model DIR --input encoder_hidden_states=emb.npy runs from another working directory', () => {
    // one prompt's embeddings [1, 77, 32], as a text encoder writes them
    const emb = path.join(tmp, 'emb.npy');
    fs.writeFileSync(emb, encodeNpy(decodeNpy(fs.readFileSync(path.join(TINY, 'reference', 'text_embeddings_cond.npy')))));
    const cfg = path.join(tmp, 'size.json');
    fs.writeFileSync(cfg, JSON.stringify({ image: { size: 16 } }));
    const r = cliIn(tmp, 'sample', '--model', TINY, '--config', cfg, '--input', `encoder_hidden_states=${emb}`, '--n', '2', '--steps', '3', '--threads', '1', '--out', 'grid.png');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sampled 2 images/);
    assert.ok(fs.statSync(path.join(tmp, 'grid.png')).size > 0);
    const missing = cliIn(tmp, 'sample', '--model', path.join(TINY, 'unet', 'model.onnx'), '--config', cfg, '--n', '1', '--steps', '2', '--out', 'g2.png');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /encoder_hidden_states: missing input, expected float32 \[N,sequence,32\]; give it with --input encoder_hidden_states=FILE\.npy/);
  });
});
