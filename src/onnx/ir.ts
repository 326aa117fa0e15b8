import type { DType, Shape } from './tensor';
import { Tensor } from './tensor';

/** A typed value: a graph input, output or intermediate. `shape` is absent when unknown. */
export interface ValueInfo {
  name: string;
  dtype: DType;
  shape?: Shape;
}

/** Node attributes, typed as ONNX types them. Integers are plain numbers (int64 attributes fit). */
export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] };

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain. */
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attribute>;
  docString?: string;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

/** A computation graph (also the body of Loop/If). Nodes are kept in topological order. */
export class Graph {
  name = 'graph';
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  initializers = new Map<string, Tensor>();
  /** Known types/shapes of intermediate values. */
  valueInfo = new Map<string, ValueInfo>();
  docString?: string;

  /** The dtype/shape of any value this graph knows about. */
  info(name: string): ValueInfo | undefined {
    const init = this.initializers.get(name);
    if (init) return { name, dtype: init.dtype, shape: init.dims };
    return (
      this.valueInfo.get(name) ??
      this.inputs.find((v) => v.name === name) ??
      this.outputs.find((v) => v.name === name)
    );
  }

  /** A copy whose nodes, lists and maps are new; tensors are shared (never mutated in place). */
  clone(): Graph {
    const c = new Graph();
    c.name = this.name;
    c.docString = this.docString;
    c.nodes = this.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } }));
    c.inputs = this.inputs.map((v) => ({ ...v, shape: v.shape ? [...v.shape] : undefined }));
    c.outputs = this.outputs.map((v) => ({ ...v, shape: v.shape ? [...v.shape] : undefined }));
    c.initializers = new Map(this.initializers);
    c.valueInfo = new Map(this.valueInfo);
    return c;
  }

  /** Map from value name to the node producing it. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) m.set(o, n);
    return m;
  }

  /** Map from value name to the nodes consuming it. */
  consumers(): Map<string, Node[]> {
    const m = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        const list = m.get(i);
        if (list) list.push(n);
        else m.set(i, [n]);
      }
    }
    return m;
  }
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: Graph;
  /** metadata_props as key -> value. */
  metadata: Record<string, string>;
}

/** What every file this project writes uses: opset 17, IR 8, default domain only. */
export const OPSET = 17;
export const IR_VERSION = 8;

export function newModel(graph: Graph, metadata: Record<string, string> = {}): Model {
  return {
    irVersion: IR_VERSION,
    opsetImports: [{ domain: '', version: OPSET }],
    producerName: 'onnx-diffusion',
    producerVersion: '0.1.0',
    domain: '',
    modelVersion: 1,
    docString: '',
    graph,
    metadata,
  };
}

/** Accessors for attributes with defaults, failing with a message naming the node. */
export function attrInt(node: Node, name: string, dflt?: number): number {
  const a = node.attrs[name];
  if (!a) {
    if (dflt === undefined) throw new Error(`${node.opType} node '${node.name}': missing attribute ${name}`);
    return dflt;
  }
  if (a.type !== 'int') throw new Error(`${node.opType} node '${node.name}': attribute ${name} is ${a.type}, expected int`);
  return a.value;
}

export function attrFloat(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  if (!a) return dflt;
  if (a.type !== 'float') throw new Error(`${node.opType} node '${node.name}': attribute ${name} is ${a.type}, expected float`);
  return a.value;
}

export function attrInts(node: Node, name: string, dflt?: number[]): number[] | undefined {
  const a = node.attrs[name];
  if (!a) return dflt;
  if (a.type !== 'ints') throw new Error(`${node.opType} node '${node.name}': attribute ${name} is ${a.type}, expected ints`);
  return a.value;
}

export function attrString(node: Node, name: string, dflt: string): string {
  const a = node.attrs[name];
  if (!a) return dflt;
  if (a.type !== 'string') throw new Error(`${node.opType} node '${node.name}': attribute ${name} is ${a.type}, expected string`);
  return a.value;
}
