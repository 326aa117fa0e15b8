import * as assert from 'node:assert/strict';
import { globMatcher } from '../../src/core/glob';
import { Rng } from '../../src/core/rng';
import { checkAdapter, extractLora, findLoraTargets, insertLora, LoraAdapter, loraA, loraB, mergeLora } from '../../src/nn/lora';
import { adapterKeys, decodeAdapter, encodeAdapter, kohyaName, LoraKeyFormat, parseAdapterKey } from '../../src/nn/lora-keys';
import { Model } from '../../src/onnx/ir';
import { decodeSafetensors, encodeSafetensors } from '../../src/onnx/safetensors';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { namePredicate } from '../../src/train/params';
import { BLOCK, diffusersFeeds, diffusersLike, KEYS } from './lora-diffusers';

async function run(model: Model, feeds: Record<string, Tensor>): Promise<Float32Array> {
  const s = await NodeSession.create(model);
  try {
    return (await s.run(feeds, ['out_sample'])).out_sample.data as Float32Array;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const keys = (m: Model, pattern?: string) => findLoraTargets(m.graph, pattern).map((c) => c.key);

/** An adapter on every candidate with random A and B (B not 0, so the delta shows). */
function randomAdapter(base: Model, rank: number, alpha: number, seed = 5): LoraAdapter {
  const { adapter } = extractLora(insertLora(base, { rank, alpha, targets: 'all-linear+conv' }));
  const rng = new Rng(seed);
  for (const [name, t] of adapter.tensors) adapter.tensors.set(name, Tensor.float32(t.dims, rng.normalArray(t.size).map((v) => 0.2 * v)));
  return adapter;
}

describe('LoRA on diffusers-named graphs', function () {
  this.timeout(60_000);

  it('one glob matcher: an empty include list includes everything, `!` excludes, `*` crosses dots and slashes', () => {
    for (const p of [undefined, '', ' , ']) assert.equal(globMatcher(p)('anything.at/all'), true, `${p}`);
    assert.equal(globMatcher('!conv_*')('conv_in.weight'), false);
    assert.equal(globMatcher('!conv_*')('down.0.weight'), true);
    assert.equal(globMatcher('down*,!*.bias')('down.0/x.weight'), true);
    assert.equal(globMatcher('down*,!*.bias')('down.0.bias'), false);
    assert.equal(globMatcher('a.b')('aXb'), false, 'a dot is literal');
    assert.equal(globMatcher('x*')(['y', 'x1']), true, 'any of several names');
    assert.equal(globMatcher('!x*')(['y', 'x1']), false, 'excluded when any name matches');
    // --trainable and --lora-targets read a pattern the same way.
    const names = ['conv_in.weight', 'conv_in.bias', 'mid.weight'];
    assert.deepEqual(names.filter(namePredicate('!*.bias')), ['conv_in.weight', 'mid.weight']);
    assert.deepEqual(keys(diffusersLike(), '!conv_in'), [...KEYS.attn.slice(0, 3), KEYS.attn[3], ...KEYS.ff, KEYS.gemm].filter((k) => k !== 'conv_in').sort((a, b) => order(a) - order(b)));
  });

  it('defaults to the attention projections (to_q, to_k, to_v, to_out.0); presets and globs widen or narrow', () => {
    const m = diffusersLike();
    assert.deepEqual(keys(m), KEYS.attn);
    assert.deepEqual(keys(m, 'attn+ff'), [...KEYS.attn, ...KEYS.ff]);
    assert.deepEqual(keys(m, 'all-linear'), [...KEYS.attn, ...KEYS.ff, KEYS.gemm]);
    assert.deepEqual(keys(m, 'all-linear+conv'), [KEYS.conv, ...KEYS.attn, ...KEYS.ff, KEYS.gemm]);
    assert.deepEqual(keys(m, ''), keys(m, 'all-linear+conv'), 'an empty pattern picks every candidate');
    assert.deepEqual(keys(m, '*attn2*'), [KEYS.attn[1], KEYS.attn[2]]);
    assert.deepEqual(keys(m, 'attn,!*attn2*'), [KEYS.attn[0], KEYS.attn[3]]);
    assert.deepEqual(keys(m, 'onnx::MatMul_6'), [KEYS.ff[1]], 'the anonymous weight name matches too');
    assert.deepEqual(keys(m, '/time_embedding/*'), [KEYS.gemm], 'and the node name');
    // A graph read without its external data (weights known by dtype and dims only) gives the same targets.
    const header = m.graph.clone();
    const external = new Map([...header.initializers].filter(([, t]) => t.dtype === 'float32').map(([n, t]) => [n, { dtype: t.dtype, dims: t.dims }]));
    for (const n of external.keys()) header.initializers.delete(n);
    assert.deepEqual(findLoraTargets(header, 'all-linear+conv', external), findLoraTargets(m.graph, 'all-linear+conv'));
  });

  it('the activation path (y + s B(A x)) equals the merged weights (W + s B A) for MatMul, Gemm (alpha 0.5) and 3x3 Conv within 1e-5', async () => {
    const base = diffusersLike();
    const adapter = randomAdapter(base, 3, 6);
    const adapted = insertLora(base, adapter);
    // W is read by its own node only, once: no W' is formed.
    for (const t of adapter.spec.targets) assert.equal(adapted.graph.nodes.filter((n) => n.inputs.includes(t.weight)).length, 1, t.weight);
    assert.deepEqual(adapted.graph.inputs, base.graph.inputs);
    assert.deepEqual(adapted.graph.outputs, base.graph.outputs);
    const f = diffusersFeeds();
    const y = await run(adapted, f);
    const merged = await run(mergeLora(base, adapter), f);
    const plain = await run(base, f);
    assert.ok(maxDiff(y, merged) < 1e-5, `activation path vs merged: ${maxDiff(y, merged)}`);
    assert.ok(maxDiff(y, plain) > 1e-2, 'the adapter changed nothing');
    // extractLora gives back the base graph exactly.
    const { base: back, adapter: again } = extractLora(adapted);
    const byName = (m: Model) => [...m.graph.nodes].sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(byName(back), byName(base));
    assert.deepEqual([...back.graph.initializers.keys()].sort(), [...base.graph.initializers.keys()].sort());
    assert.deepEqual(again.spec, adapter.spec);
  });

  it('key names map both ways: peft, diffusers (lora.down/up and attention processors) and kohya', () => {
    const k = `${BLOCK}.attn1.to_out.0`;
    assert.deepEqual(adapterKeys(k, 'peft'), { a: `unet.${k}.lora_A.weight`, b: `unet.${k}.lora_B.weight` });
    assert.deepEqual(adapterKeys(k, 'diffusers'), { a: `unet.${k}.lora.down.weight`, b: `unet.${k}.lora.up.weight` });
    assert.equal(kohyaName(k), 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0');
    assert.deepEqual(adapterKeys(k, 'kohya'), { a: `${kohyaName(k)}.lora_down.weight`, b: `${kohyaName(k)}.lora_up.weight`, alpha: `${kohyaName(k)}.alpha` });
    for (const format of ['peft', 'diffusers'] as const) {
      const { a, b } = adapterKeys(k, format);
      assert.deepEqual(parseAdapterKey(a), { module: k, part: 'A', format });
      assert.deepEqual(parseAdapterKey(b), { module: k, part: 'B', format });
      assert.deepEqual(parseAdapterKey(a.replace(/^unet\./, '')), { module: k, part: 'A', format }, 'without the unet. prefix');
    }
    const kohya = adapterKeys(k, 'kohya');
    assert.deepEqual(parseAdapterKey(kohya.alpha!), { module: kohyaName(k).slice(10), part: 'alpha', format: 'kohya' });
    assert.deepEqual(parseAdapterKey(`unet.${BLOCK}.attn1.processor.to_out_lora.up.weight`), { module: k, part: 'B', format: 'diffusers' });
    assert.deepEqual(parseAdapterKey(`unet.${BLOCK}.attn2.processor.to_k_lora.down.weight`), { module: `${BLOCK}.attn2.to_k`, part: 'A', format: 'diffusers' });
    assert.equal(parseAdapterKey('text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight'), 'text-encoder');
    assert.equal(parseAdapterKey('lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight'), 'text-encoder');
    assert.equal(parseAdapterKey('model.diffusion_model.input_blocks.1.weight'), undefined);
  });

  it('an adapter written in each format (scale alpha/r = 2) loads into the model and merges to the activation-path result within 1e-5', async () => {
    const base = diffusersLike();
    const adapter = randomAdapter(base, 2, 4);
    const f = diffusersFeeds(3);
    const y = await run(insertLora(base, adapter), f);
    for (const format of ['peft', 'diffusers', 'kohya'] as LoraKeyFormat[]) {
      const ours = encodeAdapter(adapter, format);
      // As diffusers, peft or sd-scripts would write it: the same tensors, no onnx-diffusion metadata.
      const foreign = encodeSafetensors(decodeSafetensors(ours).tensors);
      for (const [what, bytes] of [['ours', ours], ['foreign', foreign]] as const) {
        const back = decodeAdapter(bytes, `${format}.safetensors`, base.graph);
        const d = maxDiff(await run(mergeLora(base, back), f), y);
        assert.ok(d < 1e-5, `${format} (${what}): merged vs activation path ${d}`);
      }
    }
    const names = [...decodeSafetensors(encodeAdapter(adapter)).tensors.keys()];
    assert.ok(names.includes(`unet.${KEYS.attn[0]}.lora_A.weight`) && names.includes(`unet.${KEYS.gemm}.lora_B.weight`), names.join(', '));
  });

  it('refuses malformed safetensors headers in one line naming the tensor', () => {
    const file = (header: unknown, dataBytes = 16) => {
      const json = JSON.stringify(header);
      const b = new Uint8Array(8 + json.length + dataBytes);
      new DataView(b.buffer).setBigUint64(0, BigInt(json.length), true);
      b.set(new TextEncoder().encode(json), 8);
      return b;
    };
    const cases: [unknown, string][] = [
      [null, 'header is not a JSON object'],
      [{ a: null }, "tensor 'a' is not an object with dtype, shape and data_offsets"],
      [{ a: { dtype: 'F32', shape: 5, data_offsets: [0, 4] } }, "tensor 'a' has shape 5 (a list of non-negative integers expected)"],
      [{ a: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }, "tensor 'a' has shape [-1,-4] (a list of non-negative integers expected)"],
      [{ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, "tensor 'a' has shape [1.5] (a list of non-negative integers expected)"],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, "tensor 'a': offsets [4, 0] do not hold shape [1] in 16 data bytes"],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: 8 } }, "tensor 'a' has data_offsets 8 ([begin, end] expected)"],
      [{ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, 'tensor \'a\' has dtype "F64" (F32, F16, BF16 and I64 are read)'],
      [{ __metadata__: { k: 5 } }, '__metadata__ is not an object of strings'],
    ];
    for (const [header, why] of cases) assert.throws(() => decodeSafetensors(file(header), 'x.safetensors'), { message: `x.safetensors: not a readable safetensors file: ${why}` }, why);
  });

  it('reads F16 and BF16 tensors (as downloaded LoRA files hold them) widened to float32', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] } });
    const bytes = new Uint8Array(8 + header.length + 10);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    // binary16: 0x3C00 = 1, 0xC000 = -2, 0x3555 = 0.333251953125; bfloat16: 0x3F80 = 1, 0xC040 = -3.
    const data = new DataView(bytes.buffer, 8 + header.length);
    [0x3c00, 0xc000, 0x3555, 0x3f80, 0xc040].forEach((v, i) => data.setUint16(2 * i, v, true));
    const { tensors } = decodeSafetensors(bytes, 'half.safetensors');
    assert.deepEqual(tensors.get('h'), Tensor.float32([3], [1, -2, 0.333251953125]));
    assert.deepEqual(tensors.get('b'), Tensor.float32([2], [1, -3]));
  });

  it('refuses bad adapters in one line: non-finite values, alpha <= 0, wrong shapes, a target twice, unknown modules and keys', () => {
    const base = diffusersLike();
    const adapter = randomAdapter(base, 2, 2);
    const bad = (edit: (a: LoraAdapter) => void): LoraAdapter => {
      const a: LoraAdapter = { spec: { ...adapter.spec, targets: [...adapter.spec.targets] }, tensors: new Map(adapter.tensors) };
      edit(a);
      return a;
    };
    const q = adapter.spec.targets.find((t) => t.key === KEYS.attn[0])!;
    const nan = bad((a) => a.tensors.set(loraA(q.key), Tensor.float32([2, 8], Array.from({ length: 16 }, (_, i) => (i === 5 ? NaN : 0)))));
    assert.throws(() => checkAdapter(base.graph, nan, 'a.safetensors'), { message: `a.safetensors: '${loraA(q.key)}' holds a non-finite value (NaN) at index 5` });
    assert.throws(() => mergeLora(base, bad((a) => (a.spec.alpha = 0))), { message: 'LoRA adapter: alpha must be a positive number, got 0' });
    assert.throws(() => insertLora(base, bad((a) => a.tensors.set(loraB(q.key), Tensor.float32([8, 3])))), {
      message: `LoRA adapter: '${loraB(q.key)}' should be [8,2] for 'onnx::MatMul_1' [8,8] at rank 2, got [8,3]`,
    });
    assert.throws(() => insertLora(base, bad((a) => a.spec.targets.push({ ...q, key: 'again' }))), { message: "LoRA adapter: weight 'onnx::MatMul_1' is targeted twice" });
    assert.throws(() => insertLora(base, { rank: 2, alpha: -1 }), { message: 'alpha must be a positive number, got -1' });
    assert.throws(() => insertLora(base, { rank: 2, alpha: 1e308 }), { message: 'LoRA adapter: alpha / rank = 5e+307 overflows float32' });
    assert.throws(() => insertLora(base, { rank: 1_000_000_000 }), { message: `rank 1000000000 exceeds min(in, out) = 8 of '${KEYS.attn[0]}' (a higher rank adds nothing)` });
    const tensors = new Map([['lora_unet_up_blocks_9_to_q.lora_down.weight', Tensor.float32([2, 8])], ['lora_unet_up_blocks_9_to_q.lora_up.weight', Tensor.float32([8, 2])]]);
    assert.throws(() => decodeAdapter(encodeSafetensors(tensors), 'k.safetensors', base.graph), {
      message: "k.safetensors: 'up_blocks_9_to_q' names no MatMul, Gemm or Conv weight of the model (its layers are named like 'conv_in')",
    });
    assert.throws(() => decodeAdapter(encodeSafetensors(new Map([['model.x', Tensor.float32([1])]])), 'k.safetensors', base.graph), /^FileFormatError: k\.safetensors: tensor 'model\.x' is not a LoRA key/);
    assert.throws(() => decodeAdapter(encodeSafetensors(tensors), 'k.safetensors'), /k\.safetensors: has no 'onnx_diffusion_lora' metadata/);
  });
});

/** Graph order of the fixture's candidates. */
function order(key: string): number {
  return [KEYS.conv, ...KEYS.attn, ...KEYS.ff, KEYS.gemm].indexOf(key);
}
