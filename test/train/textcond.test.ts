import * as assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModelConfig } from '../../src/core/model-config';
import { Rng } from '../../src/core/rng';
import { encodeNpy } from '../../src/data/npy';
import { createSampler } from '../../src/diffusion/sampler';
import { decodeModel } from '../../src/onnx/proto';
import { DiffusionModel } from '../../src/runtime/model';
import { condInputFeeds } from '../../src/train/cond-feeds';
import { train } from '../../src/train/trainer';
import { writeTokenManifest } from '../data/manifest-helpers';
import { fixture } from '../helpers/paths';
import { cli } from '../helpers/cli';
import { tempDir } from '../runtime/fakes';

const MODEL = fixture('torch-textcond-16px.onnx');
const CONFIG = fixture('torch-textcond-16px.json');
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('a foreign model with a conditioning input of its own name (torch-textcond-16px)', function () {
  this.timeout(300_000);
  let tmp: string;
  before(async () => {
    tmp = tempDir('textcond');
    await writeTokenManifest(join(tmp, 'data'));
    writeFileSync(join(tmp, 'emb.npy'), encodeNpy({ dtype: 'float32', shape: [1, 4, 16], data: Float32Array.from({ length: 64 }, (_, i) => Math.cos(i)) }));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('train --init with manifest data lowers the loss; model.onnx keeps encoder_hidden_states and describes it', async () => {
    const out = join(tmp, 'run');
    const r = await train({ init: MODEL, config: CONFIG, data: `manifest:${join(tmp, 'data')}`, steps: 20, batch: 4, lr: 1e-3, threads: 2, out, warmup: 0, sampleEvery: 0, condDropout: 0.2 });
    assert.ok(mean(r.losses.slice(-5)) < mean(r.losses.slice(0, 5)), `loss did not fall: ${r.losses}`);
    const m = decodeModel(readFileSync(join(out, 'model.onnx')), 'out');
    assert.deepEqual(m.graph.inputs.map((i) => i.name), ['x', 't', 'encoder_hidden_states']);
    const config = readModelConfig(m.metadata, 'out')!;
    assert.deepEqual(config.conditioning.inputs, [{ name: 'encoder_hidden_states', dtype: 'float32', shape: ['N', 4, 16], kind: 'tokens' }]);
    // The checkpoint samples without --config: its metadata is enough.
    const s = cli('sample', '--model', out, '--n', '2', '--steps', '2', '--input', `encoder_hidden_states=${join(tmp, 'emb.npy')}`, '--out', join(tmp, 'ck.png'));
    assert.equal(s.code, 0, s.stderr);
  });

  it('a manifest key that no input of the model takes is refused naming the key and the inputs', async () => {
    const data = join(tmp, 'data-extra');
    await writeTokenManifest(data);
    const file = join(data, 'manifest.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.stringify({ ...JSON.parse(l), encoder_hiden_states: 1 }));
    writeFileSync(file, lines.join('\n'));
    await assert.rejects(train({ init: MODEL, config: CONFIG, data: `manifest:${data}`, steps: 1, batch: 2, out: join(tmp, 'extra-out'), sampleEvery: 0 }), {
      message: `manifest:${data}: its key 'encoder_hiden_states' is no input of the model (conditioning inputs: encoder_hidden_states)`,
    });
  });

  it('sample --input is deterministic per seed (and guidance and seeds change the images)', () => {
    const run = (seed: string, ...extra: string[]) => {
      const out = join(tmp, `s-${seed}-${extra.length}.png`);
      const r = cli('sample', '--model', MODEL, '--config', CONFIG, '--n', '2', '--steps', '3', '--seed', seed,
        '--input', `encoder_hidden_states=${join(tmp, 'emb.npy')}`, '--out', out, ...extra);
      assert.equal(r.code, 0, r.stderr);
      return readFileSync(out);
    };
    const a = run('3');
    assert.ok(a.equals(run('3')), 'same seed, different images');
    assert.ok(!a.equals(run('4')), 'different seeds, same images');
    assert.ok(!a.equals(run('3', '--guidance', '4')), 'guidance 4 changed nothing');
  });

  it('a missing input gets one line naming it, its shape and how to give it', () => {
    const r = cli('sample', '--model', MODEL, '--config', CONFIG, '--n', '1', '--steps', '2', '--out', join(tmp, 'x.png'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'error: encoder_hidden_states: missing input, expected float32 [N,4,16]; give it with --input encoder_hidden_states=FILE.npy (library: inputs.encoder_hidden_states)');
    const bad = join(tmp, 'bad.npy');
    writeFileSync(bad, encodeNpy({ dtype: 'float32', shape: [5, 16], data: new Float32Array(80) }));
    const r2 = cli('sample', '--model', MODEL, '--config', CONFIG, '--n', '1', '--steps', '2', '--input', `encoder_hidden_states=${bad}`, '--out', join(tmp, 'x.png'));
    assert.equal(r2.code, 1);
    assert.equal(r2.stderr.trim(), 'error: encoder_hidden_states: expected [4,16] per image (64 values, for all images or one block per image), got 80 values');
  });

  it('conditioning dropout sets all of an image\'s inputs to their null value, the same images every run', () => {
    const config = { conditioning: { inputs: [{ name: 'ctx', dtype: 'float32' as const, shape: ['N', 2, 3], kind: 'tokens' as const }, { name: 'y', dtype: 'int64' as const, shape: ['N'], kind: 'class' as const, nullValue: 10 }] } };
    const batch = { size: 64, x: new Float32Array(0), indices: new Int32Array(64), inputs: { ctx: new Float32Array(64 * 6).fill(1), y: new Float32Array(64).fill(3) } };
    const feeds = condInputFeeds(batch, config as never, ['ctx', 'y'], new Rng(1), 0.5);
    assert.deepEqual(feeds.ctx.dims, [64, 2, 3]);
    const ctx = feeds.ctx.toNumbers();
    const y = feeds.y.toNumbers();
    const dropped = Array.from({ length: 64 }, (_, i) => y[i] === 10);
    assert.ok(dropped.filter(Boolean).length > 16 && dropped.filter(Boolean).length < 48, 'p = 0.5 should drop about half');
    dropped.forEach((d, i) => assert.deepEqual(ctx.slice(i * 6, (i + 1) * 6), new Array(6).fill(d ? 0 : 1), `image ${i}`));
    assert.deepEqual(condInputFeeds(batch, config as never, ['ctx', 'y'], new Rng(1), 0.5).y.toNumbers(), y);
  });

  it('guidance runs one batch of 2n: the conditional tokens, then zeros', async () => {
    const model = await DiffusionModel.create(ort, readFileSync(MODEL), { config: JSON.parse(readFileSync(CONFIG, 'utf8')) });
    const seen: Float32Array[] = [];
    const spy = { config: model.config, run: (x: Float32Array, t: Int32Array, e?: { inputs?: Record<string, Float32Array> }) => {
      seen.push(e!.inputs!.encoder_hidden_states);
      return model.run(x, t, e);
    } };
    const emb = Float32Array.from({ length: 64 }, (_, i) => 1 + i);
    await createSampler(spy, { steps: 2, guidance: 3, inputs: { encoder_hidden_states: emb } }).sample(2);
    assert.equal(seen[0].length, 4 * 64);
    assert.deepEqual(Array.from(seen[0].slice(0, 64)), Array.from(emb));
    assert.deepEqual(Array.from(seen[0].slice(64, 128)), Array.from(emb));
    assert.ok(seen[0].slice(128).every((v) => v === 0));
    await model.release();
  });
});
