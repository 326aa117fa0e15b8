/**
 * Writes a shipped model's recommended sampling (sampler, steps, guidance: from its card's scores)
 * into the `onnx-diffusion` metadata of model.onnx and model.fp16.onnx, through the project's IR,
 * and checks that the graph and every initializer came through unchanged:
 *
 *   node --import tsx tools/set-sampling.ts models/fashion-mnist-class '{"sampler":"dpm++2m","steps":20,"guidance":2}'
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '../src/onnx/proto';

const [dir, json] = process.argv.slice(2);
if (!dir || !json) throw new Error('usage: set-sampling.ts MODEL_DIR \'{"sampler":..,"steps":..,"guidance":..}\'');
const sampling = JSON.parse(json) as object;
for (const name of ['model.onnx', 'model.fp16.onnx']) {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) continue;
  const before = decodeModel(fs.readFileSync(file));
  const meta = JSON.parse(before.metadata['onnx-diffusion']) as Record<string, unknown>;
  meta.sampling = sampling;
  before.metadata['onnx-diffusion'] = JSON.stringify(meta);
  const bytes = encodeModel(before);
  const after = decodeModel(bytes);
  const orig = decodeModel(fs.readFileSync(file));
  if (after.graph.nodes.length !== orig.graph.nodes.length) throw new Error(`${file}: node count changed`);
  for (const [k, t] of orig.graph.initializers) {
    const u = after.graph.initializers.get(k);
    const a = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (!u || u.dtype !== t.dtype || !a.equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength))) throw new Error(`${file}: initializer ${k} changed`);
  }
  fs.writeFileSync(file, bytes);
  console.log(`${file}: sampling ${JSON.stringify(sampling)}; ${orig.graph.initializers.size} initializers unchanged; ${fs.statSync(file).size} bytes`);
}
