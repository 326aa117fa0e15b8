/**
 * A LoRA training step on an SD-size diffusers export whose weights stay in its external data:
 * the graph is read without its data (frozen weights as zero-filled placeholders that the OS
 * never materialises), the step graph is written beside a hard link to the base's weights file
 * with every frozen initializer referencing its original bytes, and ORT opens it from the path.
 *   node --import tsx tools/lora-sd-step.ts MODEL.onnx CONFIG.json CTX.npy OUTDIR [rank] [steps] [all|extended|basic|disabled] [activation|weight] [conv-flipped|conv-transpose]
 * Needs src/runtime/model-files.ts (external data, read without the data) and the foreign-model
 * preparation of src/train/setup-from-model.ts (roles, pinned dims, folded shapes) from the same round.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readModelHeader } from '../src/runtime/model-files';
import { setupFromModel } from '../src/train/setup-from-model';
import { insertLora, LORA_TRAINABLE } from '../src/nn/lora';
import { weightForm } from './lora-weight-form';
import { buildStepGraph } from '../src/train/step-graph';
import { encodeModel } from '../src/onnx/proto';
import { onnx } from '../src/onnx/onnx-proto';
import { externalTensorProto, ExternalRef, tensorBytes } from '../src/onnx/external-data';
import { Tensor } from '../src/onnx/tensor';
import { flattenParams } from '../src/train/params';
import { Rng } from '../src/core/rng';
import { decodeNpy, npyToFloat32 } from '../src/data/npy';
import { estimateWeightMemory } from '../src/train/step-memory';
import { ortNode } from '../src/runtime/ort-node';

const [file, configFile, ctxFile, outDir, rankArg, stepsArg, optArg, formArg, convArg] = process.argv.slice(2);
// conv-transpose: the Conv input gradient reads W as it is (no flipped kernel for ORT to fold into a copy).
const inputGradient = (convArg ?? 'conv-flipped') as 'conv-flipped' | 'conv-transpose';
const form = formArg ?? 'activation';
// ORT's constant folding turns each frozen weight's Transpose or flipped kernel in the backward pass into a second copy of it.
const level = (optArg ?? 'all') as 'all' | 'extended' | 'basic' | 'disabled';
const rank = Number(rankArg ?? 4);
const steps = Number(stepsArg ?? 2);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const rss = () => mb(process.memoryUsage().rss);
const log = (s: string) => console.log(`[${(performance.now() / 1000).toFixed(1)} s, rss ${rss()}, peak ${mb(process.resourceUsage().maxRSS * 1024)}] ${s}`);

async function main() {
  const { model, external } = readModelHeader(file);
  const refs = new Map<string, ExternalRef>(external.map((r) => [r.tensor, r]));
  // Zero-filled placeholders: calloc'd pages are not resident until written or read.
  for (const r of external) model.graph.initializers.set(r.tensor, new Tensor(r.dtype, r.dims, new Float32Array(tensorBytes(r) / 4)));
  log(`header read: ${external.length} external tensors, ${mb(external.reduce((s, r) => s + tensorBytes(r), 0))}`);
  const given = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  const setup = setupFromModel(model, file, given, { batch: 1 });
  // The weight form (W' = W + sBA every step) only for comparison: tools/lora-weight-form.ts.
  const lora = form === 'weight' ? weightForm(setup.trainModel, rank) : insertLora(setup.trainModel, { rank });
  const w = estimateWeightMemory(lora.graph, LORA_TRAINABLE, 12);
  log(`weights estimate: frozen ${mb(w.frozenBytes)}, trainable ${mb(w.trainableBytes)} x 12, total ${mb(w.bytes)}`);
  const step = buildStepGraph(lora, setup.config, { batch: 1, trainable: LORA_TRAINABLE, conv: { inputGradient } });
  log(`step graph: ${step.model.graph.nodes.length} nodes, ${step.layout.total} trained values`);
  const params = flattenParams(lora.graph, step.layout);
  // Frozen initializers still in the step graph that came from external data: written as references.
  const kept: onnx.ITensorProto[] = [];
  let missing = 0;
  for (const [name, ref] of refs) {
    const t = step.model.graph.initializers.get(name);
    if (!t) { missing++; continue; }
    if (t !== model.graph.initializers.get(name)) throw new Error(`${name} was replaced during preparation`);
    step.model.graph.initializers.delete(name);
    kept.push(externalTensorProto(name, ref.dtype, ref.dims, path.basename(ref.location), ref.offset, ref.length ?? tensorBytes(ref)));
  }
  const proto = onnx.ModelProto.decode(encodeModel(step.model));
  proto.graph!.initializer!.push(...kept.map((k) => onnx.TensorProto.create(k)));
  fs.mkdirSync(outDir, { recursive: true });
  const stepFile = path.join(outDir, 'lora-step.onnx');
  fs.writeFileSync(stepFile, onnx.ModelProto.encode(proto).finish());
  for (const loc of new Set(external.map((r) => r.location))) {
    const link = path.join(outDir, path.basename(loc));
    if (!fs.existsSync(link)) fs.linkSync(path.join(path.dirname(file), loc), link);
  }
  log(`wrote ${stepFile} (${mb(fs.statSync(stepFile).size)}; ${kept.length} frozen tensors by reference, ${missing} not in the step graph)`);
  const ort = ortNode();
  const session = await ort.InferenceSession.create(stepFile, {
    graphOptimizationLevel: level, intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', enableMemPattern: false, executionProviders: ['cpu'],
    extra: { session: { disable_prepacking: '1' } },
  });
  log(`session created (graph optimization ${level}, ${form} form, ${inputGradient})`);
  const rng = new Rng(0);
  const img = () => new ort.Tensor('float32', Float32Array.from(rng.normalArray(4 * 32 * 32)), [1, 4, 32, 32]);
  const ctx = npyToFloat32(decodeNpy(fs.readFileSync(ctxFile)));
  const n = params.length;
  const feeds: Record<string, unknown> = {
    x0: img(), noise: img(), t: new ort.Tensor('int64', BigInt64Array.from([500n]), [1]), encoder_hidden_states: new ort.Tensor('float32', ctx.slice(0, 77 * 768), [1, 77, 768]),
    params: new ort.Tensor('float32', params, [n]), m: new ort.Tensor('float32', new Float32Array(n), [n]), v: new ort.Tensor('float32', new Float32Array(n), [n]),
    ema: new ort.Tensor('float32', params.slice(), [n]), step: new ort.Tensor('float32', [1], []), lr: new ort.Tensor('float32', [1e-4], []),
    ema_decay: new ort.Tensor('float32', [0.999], []), max_norm: new ort.Tensor('float32', [1], []),
  };
  for (const name of session.inputNames) if (!(name in feeds)) throw new Error(`no feed for ${name}`);
  for (let i = 0; i < steps; i++) {
    const s = performance.now();
    const out = await session.run(feeds as never);
    feeds.params = out[session.outputNames.find((o) => o.startsWith('params'))!];
    log(`step ${i + 1}: ${((performance.now() - s) / 1000).toFixed(1)} s, loss ${(out.loss.data as Float32Array)[0].toFixed(4)}`);
  }
  await session.release();
  log(`done; weights ${mb(w.frozenBytes)}; peak RSS / weights = ${((process.resourceUsage().maxRSS * 1024) / w.frozenBytes).toFixed(2)}`);
}
void main();
