import * as assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { configFromJson, ModelConfig } from '../../src/core/model-config';
import { Rng } from '../../src/core/rng';
import { decodeAdapter, encodeAdapter, extractLora, findLoraTargets, insertLora, LoraAdapter, loraA, loraB, mergeLora } from '../../src/nn/lora';
import { Builder } from '../../src/onnx/builder';
import { Model } from '../../src/onnx/ir';
import { decodeModel } from '../../src/onnx/proto';
import { Tensor } from '../../src/onnx/tensor';
import { loadModel } from '../../src/runtime/load';
import { NodeSession } from '../../src/runtime/node';
import { loadState } from '../../src/train/checkpoint';
import { buildStepGraph } from '../../src/train/step-graph';
import { train, TrainOptions } from '../../src/train/trainer';
import { checkBuilt } from '../autodiff/fd';
import { writeTokenManifest } from '../data/manifest-helpers';
import { fixture } from '../helpers/paths';
import { cli } from '../helpers/cli';
import { tempDir } from '../runtime/fakes';

const TEXT = { onnx: fixture('torch-textcond-16px.onnx'), json: fixture('torch-textcond-16px.json') };
const UNET = { onnx: fixture('torch-unet-16px.onnx'), json: fixture('torch-unet-16px.json') };
const load = (f: string): Model => decodeModel(readFileSync(f), f);
const configOf = (f: string): ModelConfig => configFromJson(JSON.parse(readFileSync(f, 'utf8')), f);

/** Feeds for the text fixture's denoiser (x, t, tokens) or its gradient graph (x0, noise, t, tokens). */
function feeds(rng: Rng, step: boolean): Record<string, Tensor> {
  const img = () => Tensor.float32([2, 3, 16, 16], rng.normalArray(2 * 768));
  const f: Record<string, Tensor> = step ? { x0: img(), noise: img() } : { x: img() };
  f.t = Tensor.int64([2], [30, 600]);
  f.encoder_hidden_states = Tensor.float32([2, 4, 16], rng.normalArray(128));
  return f;
}

async function run(model: Model, f: Record<string, Tensor>, out: string): Promise<Float32Array> {
  const s = await NodeSession.create(model);
  try {
    return (await s.run(f, [out]))[out].data as Float32Array;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('LoRA adapters', function () {
  this.timeout(300_000);
  let tmp: string;
  before(async () => {
    tmp = tempDir('lora');
    await writeTokenManifest(join(tmp, 'data'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds the attention projections of both fixtures by default (MatMul in one, 1x1 Conv in the other)', () => {
    assert.deepEqual(findLoraTargets(load(TEXT.onnx).graph).map((c) => c.key), ['x2.q', 'x2.k', 'x2.v', 'x2.o', 'x4.q', 'x4.k', 'x4.v', 'x4.o']);
    assert.deepEqual(findLoraTargets(load(UNET.onnx).graph).map((c) => `${c.key}:${c.layout}`), ['mida.qkv:conv', 'mida.o:conv']);
    assert.throws(() => insertLora(load(UNET.onnx), { rank: 2, targets: 'nothing*' }), /^OptionError: targets 'nothing\*' matches no MatMul, Gemm or Conv weight; candidates: temb\.0, temb\.2, inc,/);
  });

  it('at initialisation (B = 0) the step graph\'s loss equals the base model\'s loss, bit for bit', async () => {
    const config = configOf(TEXT.json);
    const base = buildStepGraph(load(TEXT.onnx), config, { optimizer: 'none' });
    const adapted = buildStepGraph(insertLora(load(TEXT.onnx), { rank: 4 }), config, { optimizer: 'none', trainable: '*.lora_A.weight,*.lora_B.weight' });
    assert.equal(adapted.layout.slots.length, 16);
    const f = feeds(new Rng(3), true);
    assert.deepEqual(await run(adapted.model, f, 'loss'), await run(base.model, f, 'loss'));
  });

  it('adapter gradients (A and B of MatMul, Gemm and Conv targets) pass the directional finite-difference check', async () => {
    for (const [fx, targets, inputs] of [[TEXT, undefined, 'text'], [UNET, '*qkv*,*.o.*,temb.0*', 'unet']] as const) {
      const rng = new Rng(11);
      // Random B (not 0) so that both A's and B's gradients are non-zero.
      const m0 = insertLora(load(fx.onnx), { rank: 3, alpha: 6, targets });
      const init = extractLora(m0).adapter;
      for (const [name, t] of init.tensors) init.tensors.set(name, Tensor.float32(t.dims, rng.normalArray(t.size).map((v) => 0.3 * v)));
      const model = insertLora(load(fx.onnx), init);
      const b = new Builder(model.graph);
      const c = inputs === 'text' ? 3 : 1;
      const target = b.input('target', 'float32', ['N', c, 16, 16]);
      const diff = b.sub(b.value('out'), target);
      const loss = b.op('ReduceMean', [b.mul(diff, diff)], { keepdims: 0 });
      const f: Record<string, Tensor> = {
        x: Tensor.float32([2, c, 16, 16], rng.normalArray(2 * c * 256)), t: Tensor.int64([2], [30, 600]),
        target: Tensor.float32([2, c, 16, 16], rng.normalArray(2 * c * 256)),
      };
      if (inputs === 'text') f.encoder_hidden_states = Tensor.float32([2, 4, 16], rng.normalArray(128));
      const { lhs } = await checkBuilt(b, loss, f, [...init.tensors.keys()], rng, { h: 1e-3, tol: 1e-2 });
      assert.ok(Math.abs(lhs) > 1e-4, `${inputs}: the directional derivative should not vanish`);
    }
  });

  it('the adapter file round-trips (safetensors, spec in its metadata; peft keys carry the scale in B)', () => {
    const m = insertLora(load(UNET.onnx), { rank: 2, alpha: 4, targets: '*qkv*,temb.0*', seed: 5 });
    const { adapter } = extractLora(m);
    const spec = { rank: 2, alpha: 4, targets: [{ weight: 'temb.0.weight', key: 'temb.0', layout: 'out-in' }, { weight: 'mida.qkv.weight', key: 'mida.qkv', layout: 'conv' }] };
    const kohya = decodeAdapter(encodeAdapter(adapter, 'kohya'), 'a.safetensors');
    assert.deepEqual(kohya.spec, spec);
    for (const [k, t] of adapter.tensors) assert.deepEqual(kohya.tensors.get(k), t, k);
    const peft = decodeAdapter(encodeAdapter(adapter), 'a.safetensors');
    assert.deepEqual(peft.spec, { ...spec, alpha: 2 });
    assert.deepEqual([...peft.tensors.keys()].sort(), [...adapter.tensors.keys()].sort());
    for (const [k, t] of adapter.tensors) {
      const s = k.endsWith('lora_B.weight') ? 2 : 1;
      assert.deepEqual(peft.tensors.get(k), Tensor.float32(t.dims, (t.data as Float32Array).map((v) => v * s)), k);
    }
    assert.throws(() => decodeAdapter(new Uint8Array(4), 'bad.safetensors'), /bad\.safetensors: not a readable safetensors file/);
  });

  const loraRun = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
    init: TEXT.onnx, config: TEXT.json, data: `manifest:${join(tmp, 'data')}`, lora: { rank: 4, alpha: 8 }, steps: 6, batch: 4, lr: 1e-2,
    warmup: 0, lrDecay: 'constant', emaDecay: 0, threads: 2, sampleEvery: 0, seed: 2, out, ...extra,
  });

  it('after training only adapter values changed, and the merged model equals base plus adapter within 1e-5', async () => {
    const out = join(tmp, 'run');
    const r = await train(loraRun(out));
    assert.ok(r.losses.every(Number.isFinite));
    const base = load(TEXT.onnx);
    const trained = load(join(out, 'model.onnx'));
    const adapter = decodeAdapter(readFileSync(join(out, 'adapter.safetensors')), 'adapter');
    for (const [name, t] of base.graph.initializers) {
      assert.deepEqual(Buffer.from(trained.graph.initializers.get(name)!.data.buffer), Buffer.from(t.data.buffer), `frozen '${name}' changed`);
    }
    let moved = 0;
    for (const [name, t] of adapter.tensors) {
      // The file's B carries the scale alpha / r = 2 (peft and diffusers files have no alpha).
      const inGraph = trained.graph.initializers.get(name)!;
      const s = name.endsWith('lora_B.weight') ? 2 : 1;
      assert.deepEqual(t, Tensor.float32(inGraph.dims, (inGraph.data as Float32Array).map((v) => v * s)), `${name}: adapter file and model.onnx differ`);
      if (name.endsWith('lora_B.weight')) moved += (t.data as Float32Array).reduce((s, v) => s + Math.abs(v), 0);
    }
    assert.ok(moved > 0, 'B did not move from 0');
    // The same inputs through: in-graph adapters, export --merge, and base + adapter file at load.
    const f = feeds(new Rng(4), false);
    const inGraph = await run(trained, f, 'out');
    const merged = mergeLora(trained);
    assert.deepEqual(merged.graph.inputs.map((i) => i.name), base.graph.inputs.map((i) => i.name));
    assert.deepEqual(merged.graph.outputs.map((o) => o.name), base.graph.outputs.map((o) => o.name));
    assert.equal(merged.graph.nodes.length, base.graph.nodes.length);
    const fromMerged = await run(merged, f, 'out');
    const fromBase = await run(base, f, 'out');
    assert.ok(maxDiff(fromMerged, inGraph) < 1e-5, `merged vs in-graph: ${maxDiff(fromMerged, inGraph)}`);
    assert.ok(maxDiff(fromBase, inGraph) > 1e-4, 'the adapter changed nothing');
    const loaded = await loadModel(TEXT.onnx, { config: TEXT.json, lora: join(out, 'adapter.safetensors'), threads: 2 });
    const y = await loaded.run(f.x.data as Float32Array, Int32Array.from([30, 600]), { inputs: { encoder_hidden_states: f.encoder_hidden_states.data as Float32Array } });
    assert.ok(maxDiff(y, inGraph) < 1e-5, `base + adapter file vs in-graph: ${maxDiff(y, inGraph)}`);
    await loaded.release();
  });

  it('merges Conv and Gemm adapters of torch-unet-16px within 1e-5 too', async () => {
    const out = join(tmp, 'unet');
    await train({ init: UNET.onnx, config: UNET.json, data: 'synthetic:16', lora: { rank: 2, targets: '*qkv*,*.o.*,temb.*' }, steps: 4, batch: 4, lr: 1e-2, warmup: 0, emaDecay: 0, threads: 2, sampleEvery: 0, out });
    const trained = load(join(out, 'model.onnx'));
    const rng = new Rng(8);
    const f = { x: Tensor.float32([2, 1, 16, 16], rng.normalArray(512)), t: Tensor.int64([2], [5, 900]) };
    const d = maxDiff(await run(mergeLora(trained), f, 'out'), await run(trained, f, 'out'));
    assert.ok(d < 1e-5, `merged vs in-graph: ${d}`);
  });

  it('resume with LoRA is bit-exact', async () => {
    const straight = join(tmp, 'straight');
    const split = join(tmp, 'split');
    await train(loraRun(straight, { steps: 6 }));
    await train(loraRun(split, { steps: 3 }));
    await train({ resume: split, steps: 6, threads: 2 });
    const a = loadState(straight);
    const b = loadState(split);
    assert.deepEqual(b.meta.losses, a.meta.losses);
    for (const k of ['params', 'm', 'v', 'ema'] as const) assert.deepEqual(Buffer.from(b.vec[k].buffer), Buffer.from(a.vec[k].buffer), k);
    assert.deepEqual(readFileSync(join(split, 'adapter.safetensors')), readFileSync(join(straight, 'adapter.safetensors')));
  });

  it('CLI: train --lora, export --merge and sample --lora', () => {
    const out = join(tmp, 'cli');
    const t = cli('train', '--init', UNET.onnx, '--config', UNET.json, '--data', 'synthetic:8', '--lora', '4', '--steps', '2', '--batch', '4', '--threads', '2', '--sample-every', '0', '--out', out);
    assert.equal(t.code, 0, t.stderr);
    const e = cli('export', '--model', out, '--merge', '--out', join(tmp, 'merged.onnx'));
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /inputs x, t; outputs out/);
    const s = cli('sample', '--model', UNET.onnx, '--config', UNET.json, '--lora', join(out, 'adapter.safetensors'), '--n', '1', '--steps', '2', '--out', join(tmp, 's.png'));
    assert.equal(s.code, 0, s.stderr);
    const both = cli('train', '--init', UNET.onnx, '--config', UNET.json, '--lora', '4', '--trainable', 'x*', '--data', 'synthetic:8', '--steps', '1', '--out', join(tmp, 'no'));
    assert.equal(both.stderr.trim(), 'error: give --lora or --trainable, not both (with --lora only the adapters train)');
  });
});
