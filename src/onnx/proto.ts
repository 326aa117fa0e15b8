import { onnx } from './onnx-proto';
import { DiffusionError } from '../core/errors';
import { Attribute, Graph, Model, Node, ValueInfo } from './ir';
import { allocate, BYTES_PER_ELEMENT, dtypeFromOnnx, numElements, ONNX_DTYPE, Shape, Tensor } from './tensor';
import { ExternalPlan, ExternalReader, ExternalRef, externalRefFromProto, externalTensorProto, isExternal } from './external-data';

/**
 * What decoding does with tensors whose data is in external files: read them through `reader`
 * (Node: src/runtime/model-files.ts, confined to the model's folder), or, with `refs`, leave them
 * out of the initializers and list them there (inspect, session-from-path).
 */
interface DecodeContext {
  reader?: ExternalReader;
  refs?: ExternalRef[];
}

/** protobufjs gives int64 fields as numbers or Long objects. */
type LongLike = number | { toNumber(): number; toString(): string };

function num(v: LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function big(v: LongLike): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt(v.toString());
}

const AT = onnx.AttributeProto.AttributeType;
const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

// ---------------------------------------------------------------- tensors

/**
 * TensorProto -> Tensor, from every form other tools write: raw_data, typed fields, scalars, empty.
 * @internal (onnx-proto's types stay out of the published .d.ts)
 */
export function tensorFromProto(p: onnx.ITensorProto, ctx: DecodeContext = {}): Tensor {
  const name = p.name ?? '';
  const dtype = dtypeFromOnnx(p.dataType ?? 0);
  const dims = (p.dims ?? []).map((d) => num(d as LongLike));
  if (dims.some((d) => d < 0)) throw new DiffusionError(`tensor '${name}': negative dimension in [${dims.join(',')}]`);
  const n = numElements(dims);
  if (n > 2 ** 31) throw new DiffusionError(`tensor '${name}': dims [${dims.join(',')}] need ${n} elements, more than 2^31`);
  if (isExternal(p)) {
    const ref = externalRefFromProto(p);
    if (!ctx.reader) {
      throw new DiffusionError(`tensor '${name}': its data is in the external file '${ref.location}'; load the model from its path so that the file can be read`);
    }
    const out = allocate(dtype, n);
    ctx.reader(ref, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return new Tensor(dtype, dims, out);
  }
  const out = allocate(dtype, n);
  if (p.rawData && p.rawData.length > 0) {
    const need = n * BYTES_PER_ELEMENT[dtype];
    if (p.rawData.length !== need) {
      throw new DiffusionError(`tensor '${name}': raw_data has ${p.rawData.length} bytes, dims need ${need}`);
    }
    // Copy into an aligned buffer; raw_data is little-endian, as are the machines we run on.
    const bytes = new Uint8Array(out.buffer, out.byteOffset, need);
    bytes.set(p.rawData);
    return new Tensor(dtype, dims, out);
  }
  let src: ArrayLike<number | LongLike> = [];
  if (dtype === 'float32') src = p.floatData ?? [];
  else if (dtype === 'float64') src = p.doubleData ?? [];
  else if (dtype === 'int64') src = (p.int64Data ?? []) as LongLike[];
  else src = p.int32Data ?? []; // int32, int8, uint8, bool and float16 bits all live in int32_data
  if (src.length !== n) {
    throw new DiffusionError(`tensor '${name}': has ${src.length} elements, dims [${dims.join(',')}] need ${n}`);
  }
  if (out instanceof BigInt64Array) for (let i = 0; i < n; i++) out[i] = big(src[i] as LongLike);
  else for (let i = 0; i < n; i++) out[i] = num(src[i] as LongLike);
  return new Tensor(dtype, dims, out);
}

/** Tensor -> TensorProto with little-endian raw_data. @internal */
export function tensorToProto(t: Tensor, name = ''): onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dataType: ONNX_DTYPE[t.dtype], dims: t.dims, rawData: new Uint8Array(bytes) };
}

// ---------------------------------------------------------------- values

function valueFromProto(p: onnx.IValueInfoProto): ValueInfo | undefined {
  const tt = p.type?.tensorType;
  if (!tt) return undefined;
  const v: ValueInfo = { name: p.name ?? '', dtype: dtypeFromOnnx(tt.elemType ?? 0) };
  if (tt.shape) {
    v.shape = (tt.shape.dim ?? []).map((d, i): number | string => {
      if (d.dimParam) return d.dimParam;
      // A set dim_value (0 included: empty tensors are legal) is concrete; neither field set is unknown.
      const set = (d as onnx.TensorShapeProto.Dimension).value === 'dimValue' || num(d.dimValue as LongLike) > 0;
      if (set) return num(d.dimValue as LongLike);
      return `?${p.name}:${i}`;
    });
  }
  return v;
}

function valueToProto(v: ValueInfo): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: ONNX_DTYPE[v.dtype] };
  if (v.shape) {
    tensorType.shape = {
      dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d.startsWith('?') ? {} : { dimParam: d })),
    };
  }
  return { name: v.name, type: { tensorType } };
}

// ---------------------------------------------------------------- attributes

function attrFromProto(a: onnx.IAttributeProto, where: string, ctx: DecodeContext): Attribute {
  switch (a.type) {
    case AT.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case AT.INT:
      return { type: 'int', value: num(a.i as LongLike) };
    case AT.STRING:
      return { type: 'string', value: utf8.decode(a.s ?? new Uint8Array()) };
    case AT.TENSOR:
      return { type: 'tensor', value: tensorFromProto(a.t ?? {}, ctx) };
    case AT.GRAPH:
      return { type: 'graph', value: graphFromProto(a.g ?? {}, ctx) };
    case AT.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case AT.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((i) => num(i as LongLike)) };
    case AT.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => utf8.decode(s)) };
    case AT.TENSORS:
      return { type: 'tensors', value: (a.tensors ?? []).map((t) => tensorFromProto(t, ctx)) };
    case AT.GRAPHS:
      return { type: 'graphs', value: (a.graphs ?? []).map((g) => graphFromProto(g, ctx)) };
    default:
      throw new DiffusionError(`${where}: attribute '${a.name}' has unsupported type ${a.type}`);
  }
}

function attrToProto(name: string, a: Attribute): onnx.IAttributeProto {
  switch (a.type) {
    case 'float':
      return { name, type: AT.FLOAT, f: a.value };
    case 'int':
      return { name, type: AT.INT, i: a.value };
    case 'string':
      return { name, type: AT.STRING, s: utf8enc.encode(a.value) };
    case 'tensor':
      return { name, type: AT.TENSOR, t: tensorToProto(a.value) };
    case 'graph':
      return { name, type: AT.GRAPH, g: graphToProto(a.value) };
    case 'floats':
      return { name, type: AT.FLOATS, floats: a.value };
    case 'ints':
      return { name, type: AT.INTS, ints: a.value };
    case 'strings':
      return { name, type: AT.STRINGS, strings: a.value.map((s) => utf8enc.encode(s)) };
    case 'tensors':
      return { name, type: AT.TENSORS, tensors: a.value.map((t) => tensorToProto(t)) };
    case 'graphs':
      return { name, type: AT.GRAPHS, graphs: a.value.map((sg) => graphToProto(sg)) };
  }
}

// ---------------------------------------------------------------- graphs

/** @internal */
export function graphFromProto(g: onnx.IGraphProto, ctx: DecodeContext = {}): Graph {
  const graph = new Graph();
  graph.name = g.name ?? 'graph';
  if (g.docString) graph.docString = g.docString;
  for (const t of g.initializer ?? []) {
    if (ctx.refs && isExternal(t)) ctx.refs.push(externalRefFromProto(t));
    else graph.initializers.set(t.name ?? '', tensorFromProto(t, ctx));
  }
  const external = new Set(ctx.refs?.map((r) => r.tensor));
  if ((g.sparseInitializer ?? []).length > 0) throw new DiffusionError(`graph '${graph.name}': sparse initializers are not supported`);
  // ONNX allows initializers to also be listed as inputs (IR < 4 style); they are weights, not inputs.
  for (const i of g.input ?? []) {
    if (graph.initializers.has(i.name ?? '') || external.has(i.name ?? '')) continue;
    const v = valueFromProto(i);
    if (!v) throw new DiffusionError(`graph input '${i.name}' is not a tensor`);
    graph.inputs.push(v);
  }
  for (const o of g.output ?? []) {
    const v = valueFromProto(o);
    if (!v) throw new DiffusionError(`graph output '${o.name}' is not a tensor`);
    graph.outputs.push(v);
  }
  for (const vi of g.valueInfo ?? []) {
    const v = valueFromProto(vi);
    if (v) graph.valueInfo.set(v.name, v);
  }
  graph.nodes = (g.node ?? []).map((n, k): Node => {
    const name = n.name || `${n.opType}_${k}`;
    const attrs: Record<string, Attribute> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrFromProto(a, `${n.opType} node '${name}'`, ctx);
    const node: Node = { name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
    if (n.docString) node.docString = n.docString;
    return node;
  });
  return graph;
}

/** @internal */
export function graphToProto(g: Graph, initializer: (t: Tensor, name: string) => onnx.ITensorProto = tensorToProto): onnx.IGraphProto {
  return {
    name: g.name,
    docString: g.docString,
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      input: n.inputs,
      output: n.outputs,
      docString: n.docString,
      attribute: Object.entries(n.attrs).map(([k, a]) => attrToProto(k, a)),
    })),
    initializer: [...g.initializers].map(([name, t]) => initializer(t, name)),
    input: g.inputs.map(valueToProto),
    output: g.outputs.map(valueToProto),
    valueInfo: [...g.valueInfo.values()].map(valueToProto),
  };
}

// ---------------------------------------------------------------- models

/** How decodeModel treats tensors whose data lives in external files. */
export interface DecodeOptions {
  /** Reads them (Node: runtime/model-files.ts, which confines reads to the model's folder). */
  external?: ExternalReader;
}

/**
 * Decodes ONNX ModelProto bytes. `source` names the file in errors. A tensor with external data
 * needs `options.external`; without it, the error names the tensor and its file.
 */
export function decodeModel(bytes: Uint8Array, source = 'model', options: DecodeOptions = {}): Model {
  return decode(bytes, source, { reader: options.external }).model;
}

/**
 * Decodes the graph without reading external data: those initializers are left out of
 * `model.graph.initializers` and listed in `external` (their dtype, dims and place). For `inspect`
 * and for checks before a session is created from the file's path.
 */
export function decodeModelHeader(bytes: Uint8Array, source = 'model'): { model: Model; external: ExternalRef[] } {
  const refs: ExternalRef[] = [];
  return { model: decode(bytes, source, { refs }).model, external: refs };
}

function decode(bytes: Uint8Array, source: string, ctx: DecodeContext): { model: Model } {
  if (bytes.length === 0) throw new DiffusionError(`${source}: empty file, not an ONNX model`);
  let p: onnx.ModelProto;
  try {
    p = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DiffusionError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  if (!p.graph || (p.graph.node ?? []).length === 0 && (p.graph.output ?? []).length === 0) {
    throw new DiffusionError(`${source}: not a valid ONNX model (no graph)`);
  }
  if (num(p.irVersion as LongLike) <= 0) throw new DiffusionError(`${source}: not a valid ONNX model (no IR version)`);
  let graph: Graph;
  try {
    graph = graphFromProto(p.graph, ctx);
  } catch (e) {
    throw new DiffusionError(`${source}: ${(e as Error).message}`);
  }
  const metadata: Record<string, string> = {};
  for (const m of p.metadataProps ?? []) metadata[m.key ?? ''] = m.value ?? '';
  const model: Model = {
    irVersion: num(p.irVersion as LongLike),
    opsetImports: (p.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: num(o.version as LongLike) })),
    producerName: p.producerName ?? '',
    producerVersion: p.producerVersion ?? '',
    domain: p.domain ?? '',
    modelVersion: num(p.modelVersion as LongLike),
    docString: p.docString ?? '',
    graph,
    metadata,
  };
  checkGraph(model.graph, source, new Set(ctx.refs?.map((r) => r.tensor)));
  return { model };
}

/** Where a tensor's bytes lie in an external data file (relative location, byte offset and length). */
export interface TensorLocation {
  location: string;
  offset: number;
  length: number;
}

/**
 * ModelProto bytes. With `external` (runtime/model-files.ts plans it), the planned initializers
 * are written as references to `external.location` at their offsets, and their bytes are not
 * copied into the protobuf: the caller writes them to the data file. `reference` says where a
 * tensor's bytes already lie in a data file (written as that reference), or undefined to write it.
 */
export function encodeModel(
  m: Model, external?: { location: string; plan: ExternalPlan }, reference?: (t: Tensor, name: string) => TensorLocation | undefined,
): Uint8Array {
  const at = new Map(external?.plan.tensors.map((t) => [t.name, t]));
  // Views of the tensors' memory, not copies: the protobuf writer copies each once, into its output.
  const graph = graphToProto(m.graph, (t, name) => {
    // A tensor already in an existing data file (train/frozen-weights.ts): written as its reference.
    const r = reference?.(t, name);
    if (r) return externalTensorProto(name, t.dtype, t.dims, r.location, r.offset, r.length);
    const e = at.get(name);
    if (e) return externalTensorProto(name, t.dtype, t.dims, external!.location, e.offset, e.bytes.byteLength);
    return { name, dataType: ONNX_DTYPE[t.dtype], dims: t.dims, rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  });
  const p: onnx.IModelProto = {
    irVersion: m.irVersion,
    opsetImport: m.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    modelVersion: m.modelVersion,
    docString: m.docString,
    graph,
    metadataProps: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(p).finish();
}

/**
 * Every node input must be a graph input, an initializer, an earlier node's output or (in a
 * subgraph) a value of an enclosing scope. Names the first undefined value.
 */
export function checkGraph(g: Graph, source: string, outer: Set<string> = new Set()): void {
  const known = new Set<string>(outer);
  for (const i of g.inputs) known.add(i.name);
  for (const k of g.initializers.keys()) known.add(k);
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (i && !known.has(i)) {
        throw new DiffusionError(`${source}: ${n.opType} node '${n.name}' uses undefined value '${i}'`);
      }
    }
    for (const a of Object.values(n.attrs)) {
      if (a.type === 'graph') checkGraph(a.value, source, known);
      if (a.type === 'graphs') for (const sg of a.value) checkGraph(sg, source, known);
    }
    for (const o of n.outputs) if (o) known.add(o);
  }
  for (const o of g.outputs) {
    if (!known.has(o.name)) throw new DiffusionError(`${source}: graph output '${o.name}' is never produced`);
  }
}

export type { Shape };
