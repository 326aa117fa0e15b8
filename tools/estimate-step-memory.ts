/**
 * Estimate (not a measurement) of one training step's memory for a foreign export of any size,
 * with and without recompute, without reading its weights: external initializers get zero-filled
 * arrays of their size that are never touched, so the OS does not commit them, and the estimate
 * (src/train/step-memory.ts) needs only shapes. `--trainable GLOB` freezes the rest, as LoRA does.
 *   node --import tsx tools/estimate-step-memory.ts MODEL.onnx CONFIG.json [--batch 1] [--trainable GLOB]
 */
import { readFileSync } from 'node:fs';
import { configFromJson } from '../src/core/model-config';
import { onnx } from '../src/onnx/onnx-proto';
import { decodeModel } from '../src/onnx/proto';
import { allocate, dtypeFromOnnx, Tensor } from '../src/onnx/tensor';
import { setupFromModel } from '../src/train/setup-from-model';
import { buildStepGraph } from '../src/train/step-graph';
import { estimateStepMemory } from '../src/train/step-memory';

const sarg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

const [file, configFile] = process.argv.slice(2);
const batch = Number(sarg('batch') ?? 1);
const trainable = sarg('trainable');
const p = onnx.ModelProto.decode(readFileSync(file));
const external: { name: string; dims: number[]; dtype: number }[] = [];
// External tensors decode as empty placeholders, then get their size below.
for (const t of p.graph!.initializer!) {
  if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
  external.push({ name: t.name!, dims: (t.dims ?? []).map(Number), dtype: t.dataType! });
  t.dims = [0];
  t.externalData = [];
  t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
}
const model = decodeModel(onnx.ModelProto.encode(p).finish(), file);
for (const e of external) {
  const dtype = dtypeFromOnnx(e.dtype);
  model.graph.initializers.set(e.name, new Tensor(dtype, e.dims, allocate(dtype, e.dims.reduce((a, b) => a * b, 1))));
}
const config = configFromJson(JSON.parse(readFileSync(configFile, 'utf8')), configFile);
const t0 = performance.now();
const setup = setupFromModel(model, file, config, { batch });
const rows = [];
for (const recompute of [false, true]) {
  const step = buildStepGraph(setup.trainModel, setup.config, { batch, trainable, recompute });
  const m = estimateStepMemory(step.model.graph, batch, ['x0', 'noise', 't', ...step.extraInputs]);
  rows.push({ batch, trainable: trainable ?? 'all', 'trained values': step.layout.total, recompute, nodes: step.model.graph.nodes.length, 'step GiB': (m.bytes / 2 ** 30).toFixed(2) });
}
console.table(rows);
console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s; peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
