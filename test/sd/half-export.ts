/**
 * A float16 copy of a float32 diffusers ONNX folder, made the way fp16 exports are made, without
 * Python: the fixture for the float16 tests (written to a temporary folder, not committed).
 *
 * The conversion follows onnxruntime's `python/tools/transformers/float16.py`
 * (`convert_float_to_float16`, itself modified from onnxconverter-common's `float16.py`), which
 * optimum's ORTOptimizer runs for `fp16=True`, with keep_io_types false:
 * - every float32 initializer, Constant / ConstantOfShape tensor and graph input/output becomes
 *   float16; values are clamped to float16's range first (max_finite_val 65504, min_positive_val
 *   5.96e-8: CLIP's causal mask uses float32's lowest value, which becomes -65504, not -inf);
 * - Cast(to=float32) becomes Cast(to=float16);
 * - ops in the block list (its DEFAULT_OP_BLOCK_LIST: Range, CumSum, Min, Max, TopK, Upsample, ...)
 *   stay float32 with Casts on their float inputs and outputs; an initializer used only by blocked
 *   nodes stays float32 ("convert initializers if needed to preserve precision");
 * - ALWAYS_FLOAT_INPUTS {Resize: [2]}: Resize's scales stay float32.
 * And as a torch `.half()` export (optimum's `--fp16`) has it: diffusers computes the sinusoidal
 * timestep embedding in float32 and casts it to the sample's dtype (`get_timestep_embedding`,
 * `t_emb.to(dtype=sample.dtype)`, diffusers 0.27.2 embeddings.py / unet_2d_condition.py), so the
 * nodes fed by `timestep` up to the time embedding's first MatMul/Gemm stay float32 here too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph, type Model, type Node } from '../../src/onnx/ir';
import { floatToHalf, Tensor, type DType } from '../../src/onnx/tensor';
import { encodeModelToFiles, readModelFiles } from '../../src/runtime/model-files';

const BLOCK = new Set(['Range', 'CumSum', 'Min', 'Max', 'TopK', 'Upsample', 'NonMaxSuppression', 'RoiAlign', 'RandomUniformLike']);
const ALWAYS_FLOAT_INPUTS: Record<string, number[]> = { Resize: [2] };
const MAX_FINITE = 65504;
const MIN_POSITIVE = 5.96e-8;

/** float32 -> float16 bits, clamped as float16.py's convert_np_to_float16 does. */
function toHalf(v: number): number {
  let x = v;
  if (Number.isFinite(x)) {
    if (x > 0 && x < MIN_POSITIVE) x = MIN_POSITIVE;
    else if (x < 0 && x > -MIN_POSITIVE) x = -MIN_POSITIVE;
    x = Math.max(-MAX_FINITE, Math.min(MAX_FINITE, x));
  }
  return floatToHalf(x);
}

export function halfTensor(t: Tensor): Tensor {
  return new Tensor('float16', [...t.dims], Uint16Array.from(t.data as Float32Array, toHalf));
}

export interface HalfGraphOptions {
  /** Inputs whose cone (up to the first MatMul/Gemm) computes in float32. */
  float32Cone?: string[];
  /** Graph inputs that keep their float32 type (keep_io_types for those names). */
  keepIo?: string[];
}

const INT64_OUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
const BOOL_OUT = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const CODE: Record<number, DType> = { 1: 'float32', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' };

/** Every value's element type, by the ops' type rules (the few these exports use). */
export function dtypes(g: Graph): Map<string, DType> {
  const m = new Map<string, DType>();
  for (const [name, t] of g.initializers) m.set(name, t.dtype);
  for (const v of g.inputs) m.set(v.name, v.dtype);
  for (const n of g.nodes) {
    const a = n.attrs;
    let dt: DType | undefined;
    if (n.opType === 'Cast' && a.to?.type === 'int') dt = CODE[a.to.value];
    else if ((n.opType === 'Constant' || n.opType === 'ConstantOfShape') && a.value?.type === 'tensor') dt = a.value.value.dtype;
    else if (n.opType === 'ConstantOfShape') dt = 'float32';
    else if (INT64_OUT.has(n.opType)) dt = 'int64';
    else if (BOOL_OUT.has(n.opType)) dt = 'bool';
    else if (n.opType === 'Where') dt = m.get(n.inputs[1]);
    else dt = m.get(n.inputs[0]);
    if (!dt) throw new Error(`node ${n.name} (${n.opType}): cannot tell its output type`);
    for (const o of n.outputs) if (o) m.set(o, dt);
  }
  return m;
}

/** Nodes that stay float32 in the conversion, and the float32 initializers only they use (kept float32). */
function float32Part(g0: Graph, opts: HalfGraphOptions): { blocked: Set<Node>; keptInits: Set<string> } {
  const consumers = g0.consumers();
  // 1. blocked nodes: the block list, and the float32 cone of the given inputs
  const blocked = new Set<Node>(g0.nodes.filter((n) => BLOCK.has(n.opType)));
  const todo = [...(opts.float32Cone ?? [])];
  const seen = new Set(todo);
  while (todo.length) {
    for (const n of consumers.get(todo.pop()!) ?? []) {
      if (n.opType === 'MatMul' || n.opType === 'Gemm' || blocked.has(n)) continue;
      blocked.add(n);
      for (const o of n.outputs) if (o && !seen.has(o)) { seen.add(o); todo.push(o); }
    }
  }
  // a Constant whose every consumer is blocked stays float32 with them
  for (const n of g0.nodes) {
    const onlyBlocked = (o: string) => (consumers.get(o) ?? []).length > 0 && (consumers.get(o) ?? []).every((c) => blocked.has(c));
    if (n.opType === 'Constant' && n.outputs.every(onlyBlocked)) blocked.add(n);
  }
  const keptInits = new Set<string>();
  for (const name of g0.initializers.keys()) {
    const uses = consumers.get(name) ?? [];
    if (uses.length > 0 && uses.every((c) => blocked.has(c))) keptInits.add(name);
  }
  return { blocked, keptInits };
}

/** The float16 conversion of one graph (a new Graph; tensors are new). */
export function halfGraph(g0: Graph, opts: HalfGraphOptions = {}): Graph {
  const known = dtypes(g0);
  const isFloat = (v: string): boolean => !!v && known.get(v) === 'float32';
  const { blocked, keptInits } = float32Part(g0, opts);
  // which float values are float32 ('f') or float16 ('h') after conversion
  const keepIo = new Set(opts.keepIo ?? []);
  const state = new Map<string, 'f' | 'h'>();
  const g = new Graph();
  g.name = g0.name;
  for (const [name, t] of g0.initializers) {
    const keep = t.dtype !== 'float32' || keptInits.has(name);
    g.initializers.set(name, keep ? t : halfTensor(t));
    if (t.dtype === 'float32') state.set(name, keep ? 'f' : 'h');
  }
  g.inputs = g0.inputs.map((v) => {
    if (v.dtype !== 'float32' || g0.initializers.has(v.name)) return { ...v };
    state.set(v.name, keepIo.has(v.name) ? 'f' : 'h');
    return { ...v, dtype: keepIo.has(v.name) ? 'float32' : 'float16' };
  });
  const casts = new Map<string, string>();
  const castTo = (v: string, want: 'f' | 'h'): string => {
    const key = `${v}|${want}`;
    let out = casts.get(key);
    if (!out) {
      out = `${v}__to_${want === 'f' ? 'fp32' : 'fp16'}`;
      const to = { type: 'int', value: want === 'f' ? 1 : 10 } as const;
      g.nodes.push({ name: `${out}_cast`, opType: 'Cast', domain: '', inputs: [v], outputs: [out], attrs: { to } });
      casts.set(key, out);
    }
    return out;
  };
  for (const n0 of g0.nodes) {
    const b = blocked.has(n0);
    const n: Node = { ...n0, inputs: [...n0.inputs], outputs: [...n0.outputs], attrs: { ...n0.attrs } };
    n.inputs = n.inputs.map((v, i) => {
      const s = state.get(v);
      if (!s) return v;
      const want = b || (ALWAYS_FLOAT_INPUTS[n.opType] ?? []).includes(i) ? 'f' : 'h';
      return s === want ? v : castTo(v, want);
    });
    if (!b) {
      for (const [k, a] of Object.entries(n.attrs)) {
        if (a.type === 'tensor' && a.value.dtype === 'float32') n.attrs[k] = { type: 'tensor', value: halfTensor(a.value) };
        if (a.type === 'graph') throw new Error(`node ${n.name}: subgraphs are not converted by this helper`);
      }
      if (n.opType === 'Cast' && n.attrs.to?.type === 'int' && n.attrs.to.value === 1) n.attrs.to = { type: 'int', value: 10 };
    }
    g.nodes.push(n);
    for (const o of n.outputs) if (isFloat(o)) state.set(o, b ? 'f' : 'h');
  }
  g.outputs = g0.outputs.map((v) => {
    if (v.dtype !== 'float32') return { ...v };
    if (state.get(v.name) !== 'h') throw new Error(`output ${v.name} is computed by a float32-blocked node`);
    return { ...v, dtype: 'float16' };
  });
  return g;
}

/** Which part is converted, and how its UNet timestep is typed. */
export interface HalfFolderOptions {
  /** Parts to convert (default all four); the others are copied as they are (a mixed folder). */
  parts?: string[];
  /** The UNet's `timestep` input: float16 (default) or float32 (kept, as some exports do). */
  timestep?: 'float16' | 'float32';
}

const PARTS = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'];

/** Writes the float16 copy of the diffusers ONNX folder `src` into `dst` (UNet weights in weights.pb, as the source). */
export function writeHalfFolder(src: string, dst: string, opts: HalfFolderOptions = {}): void {
  const parts = new Set(opts.parts ?? PARTS);
  fs.mkdirSync(dst, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    if (entry === 'reference') continue;
    const from = path.join(src, entry);
    const to = path.join(dst, entry);
    if (!PARTS.includes(entry) || !parts.has(entry)) {
      fs.cpSync(from, to, { recursive: true });
      continue;
    }
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(from)) if (f.endsWith('.json')) fs.copyFileSync(path.join(from, f), path.join(to, f));
    const model: Model = readModelFiles(path.join(from, 'model.onnx'));
    const unet = entry === 'unet';
    const graph = halfGraph(model.graph, unet ? { float32Cone: ['timestep'], keepIo: opts.timestep === 'float32' ? ['timestep'] : [] } : {});
    const external = fs.existsSync(path.join(from, 'weights.pb'));
    encodeModelToFiles({ ...model, graph }, path.join(to, 'model.onnx'), external ? { externalData: true, location: 'weights.pb' } : { externalData: false });
  }
}

/**
 * The second implementation the float16 tests compare with: the float32 graph with every float32
 * weight (initializer, Constant / ConstantOfShape tensor) rounded to its float16 value (clamped as
 * above) but stored and computed in float32, except those the conversion keeps float32. This is
 * what the upcast float16 graph computes (no value is rounded inside it or at its boundary), built
 * on the IR, independently of the upcast pass under test.
 */
export function roundedGraph(g0: Graph, opts: HalfGraphOptions = {}): Graph {
  const round = (t: Tensor): Tensor => new Tensor('float32', [...t.dims], Float32Array.from(halfTensor(t).toNumbers()));
  const { blocked, keptInits } = float32Part(g0, opts);
  const g = g0.clone();
  for (const [name, t] of g.initializers) if (t.dtype === 'float32' && !keptInits.has(name)) g.initializers.set(name, round(t));
  g.nodes = g0.nodes.map((n) => {
    const attrs = { ...n.attrs };
    if (blocked.has(n)) return { ...n, attrs };
    for (const [k, a] of Object.entries(attrs)) if (a.type === 'tensor' && a.value.dtype === 'float32') attrs[k] = { type: 'tensor', value: round(a.value) };
    return { ...n, attrs };
  });
  return g;
}

/** Writes roundedGraph of the parts of `src` (default all) into `dst` (a float32 folder). */
export function writeRoundedFolder(src: string, dst: string, parts: string[] = PARTS): void {
  fs.mkdirSync(dst, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    if (entry === 'reference') continue;
    const from = path.join(src, entry);
    if (!parts.includes(entry)) {
      fs.cpSync(from, path.join(dst, entry), { recursive: true });
      continue;
    }
    fs.mkdirSync(path.join(dst, entry), { recursive: true });
    const model = readModelFiles(path.join(from, 'model.onnx'));
    const external = fs.existsSync(path.join(from, 'weights.pb'));
    const graph = roundedGraph(model.graph, entry === 'unet' ? { float32Cone: ['timestep'] } : {});
    encodeModelToFiles({ ...model, graph }, path.join(dst, entry, 'model.onnx'),
      external ? { externalData: true, location: 'weights.pb' } : { externalData: false });
  }
}
