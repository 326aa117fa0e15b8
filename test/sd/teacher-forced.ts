/**
 * Node-by-node comparison of an upcast graph with ONNX Runtime on the unmodified float16 graph:
 * the float16 graph runs with every intermediate value as an output; then the upcast graph runs
 * "teacher-forced", each node reading the float16 run's values of its inputs (widened) instead of
 * its own, so each node's output differences are that node's alone, not accumulated.
 */
import * as ort from 'onnxruntime-node';
import { Graph } from '../../src/onnx/ir';
import { onnx } from '../../src/onnx/onnx-proto';
import { encodeModel } from '../../src/onnx/proto';
import { halfToFloat, ONNX_DTYPE } from '../../src/onnx/tensor';
import { readModelFiles } from '../../src/runtime/model-files';
import { upcastModelFile } from '../../src/runtime/float32-session';
import { dtypes } from './half-export';

/** One node's float output: ORT's float16 value and the upcast graph's float32 value, elementwise. */
export interface NodeOutput {
  node: string;
  opType: string;
  value: string;
  half: Float32Array;
  upcast: Float32Array;
}

const OPTS: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 2 };
const widen = (t: ort.Tensor): Float32Array =>
  (t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, halfToFloat) : Float32Array.from(t.data as Float32Array));

/** Runs both graphs of `file` (a float16 model) on `feeds` (float16 graph's feeds) and pairs every float node output. */
export async function teacherForced(file: string, feeds: Record<string, ort.Tensor>): Promise<NodeOutput[]> {
  // 1. ORT on the float16 graph, every intermediate an output
  const model = readModelFiles(file);
  const g0 = model.graph;
  const types = dtypes(g0);
  const g: Graph = g0.clone();
  const produced = g0.nodes.flatMap((n) => n.outputs.filter((o) => o));
  const outNames = new Set(g0.outputs.map((o) => o.name));
  g.outputs = [...g0.outputs, ...produced.filter((o) => !outNames.has(o)).map((name) => ({ name, dtype: types.get(name)! }))];
  g.valueInfo = new Map();
  const s16 = await ort.InferenceSession.create(encodeModel({ ...model, graph: g }), OPTS);
  const r16 = await s16.run(feeds);
  await s16.release();

  // 2. the upcast graph (the pass under test), each node's inputs cut and fed from run 1
  const up = upcastModelFile(file)!;
  const m = onnx.ModelProto.decode(up.bytes!);
  const pg = m.graph!;
  const isProduced = new Set(produced);
  const cut = new Set<string>();
  for (const n of pg.node ?? []) n.input = (n.input ?? []).map((i) => (isProduced.has(i) ? (cut.add(i), `tf/${i}`) : i));
  const f32Type = (name: string): number => (types.get(name) === 'float16' ? ONNX_DTYPE.float32 : ONNX_DTYPE[types.get(name)!]);
  for (const name of cut) pg.input!.push({ name: `tf/${name}`, type: { tensorType: { elemType: f32Type(name) } } });
  pg.output = produced.map((name) => ({ name, type: { tensorType: { elemType: f32Type(name) } } }));
  pg.valueInfo = [];
  const s32 = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish(), OPTS);
  const f32Feed = (t: ort.Tensor): ort.Tensor => (t.type === 'float16' ? new ort.Tensor('float32', widen(t), t.dims) : t);
  const feeds32: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) feeds32[k] = f32Feed(t);
  for (const name of cut) feeds32[`tf/${name}`] = f32Feed(r16[name]);
  const r32 = await s32.run(feeds32);
  await s32.release();

  const out: NodeOutput[] = [];
  for (const n of g0.nodes) {
    for (const o of n.outputs) {
      if (!o || types.get(o) !== 'float16') continue;
      out.push({ node: n.name, opType: n.opType, value: o, half: widen(r16[o]), upcast: widen(r32[o]) });
    }
  }
  return out;
}
