import { DiffusionError } from '../core/errors';
import { Rng } from '../core/rng';
import { inferGraph, inferNode, Known, knownFromTensor } from './infer';
import { Attribute, Graph, Node, ValueInfo } from './ir';
import { DType, Dim, numElements, Shape, Tensor } from './tensor';

/** A value in a graph under construction, with its inferred dtype and shape. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** Attribute values as builder helpers take them; numbers become ints unless listed as floats. */
export type AttrInput = number | string | number[] | string[] | Tensor | Graph | Attribute;

/** Seeded weight initialisers. Fans follow PyTorch's layout: [out, in, ...kernel]. */
export type Init =
  | 'zeros'
  | 'ones'
  | 'kaiming'
  | 'kaiming-uniform'
  | 'xavier'
  | { normal: number }
  | { uniform: number }
  | { constant: number };

/** Attributes that ONNX types as float(s) even when the given number is integral. */
const FLOAT_ATTRS = new Set(['alpha', 'beta', 'epsilon', 'gamma', 'ratio', 'min', 'max', 'value_float', 'value_floats', 'scales', 'extrapolation_value', 'cubic_coeff_a', 'momentum', 'bias', 'lambd', 'seed']);

function toAttr(name: string, v: AttrInput): Attribute {
  if (v instanceof Tensor) return { type: 'tensor', value: v };
  if (v instanceof Graph) return { type: 'graph', value: v };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (typeof v === 'number') return FLOAT_ATTRS.has(name) || !Number.isInteger(v) ? { type: 'float', value: v } : { type: 'int', value: v };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { type: 'strings', value: v as string[] };
    const nums = v as number[];
    return FLOAT_ATTRS.has(name) || nums.some((x) => !Number.isInteger(x)) ? { type: 'floats', value: nums } : { type: 'ints', value: nums };
  }
  return v;
}

/**
 * Writes ONNX graphs from TypeScript: every helper appends a node, infers its output dtype and
 * shape (symbolic dims such as the batch `N` stay symbolic), and returns the output Value.
 * Parameters live under name scopes (`down.1.res.0.conv1.weight`) with seeded initialisers.
 */
export class BuilderCore {
  readonly graph: Graph;
  private readonly known = new Map<string, Known>();
  private readonly scopes: string[] = [];
  private readonly used = new Set<string>();
  private counter = 0;
  private freshDims = 0;
  readonly rng: Rng;

  constructor(graph: Graph = new Graph(), options: { seed?: number } = {}) {
    this.graph = graph;
    this.rng = new Rng(options.seed ?? 0);
    // A decoded graph (ours or a foreign export) gets full inference so every value has facts.
    for (const [name, k] of inferGraph(graph)) this.remember(name, k);
    for (const n of graph.nodes) this.used.add(n.name);
  }

  private remember(name: string, k: Known): void {
    this.known.set(name, k);
    this.used.add(name);
  }

  /** Facts inference has about a value (shape, small integer contents). */
  facts(name: string): Known | undefined {
    return this.known.get(name);
  }

  /** An existing value by name (graph input, initializer or node output). */
  value(name: string): Value {
    const k = this.known.get(name);
    if (!k) throw new DiffusionError(`value '${name}' is not defined in graph '${this.graph.name}'`);
    return { name, dtype: k.dtype, shape: k.shape ?? [] };
  }

  /** Makes a value of an enclosing graph usable here (subgraphs read outer-scope values by name). */
  adopt(v: Value): Value {
    this.remember(v.name, { dtype: v.dtype, shape: v.shape });
    return v;
  }

  has(name: string): boolean {
    return this.known.has(name);
  }

  /** A name not used yet in this graph, under the current scope. */
  uniqueName(base: string): string {
    const prefix = this.scopes.length ? `${this.scopes.join('.')}/` : '';
    let name = `${prefix}${base}`;
    while (this.used.has(name)) name = `${prefix}${base}_${this.counter++}`;
    this.used.add(name);
    return name;
  }

  freshDim(): string {
    return `?b${this.freshDims++}`;
  }

  /** Runs `fn` with `name` appended to the parameter scope (`down` -> `down.1` -> ...). */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** The dotted name of a parameter in the current scope. */
  paramName(name: string): string {
    return [...this.scopes, name].join('.');
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.used.has(name)) throw new DiffusionError(`graph input '${name}' is already defined`);
    this.graph.inputs.push({ name, dtype, shape: [...shape] });
    this.remember(name, { dtype, shape: [...shape] });
    return { name, dtype, shape: [...shape] };
  }

  /** Marks `v` as a graph output called `name` (an Identity is added when the names differ). */
  output(v: Value, name: string = v.name): Value {
    const out = name === v.name ? v : this.node('Identity', [v], {}, 1, [name])[0];
    // Declare the shape only when inference knows it (an unknown shape is not a scalar).
    const shape = this.known.get(name)?.shape;
    const vi: ValueInfo = shape ? { name, dtype: out.dtype, shape: [...shape] } : { name, dtype: out.dtype };
    this.graph.outputs.push(vi);
    this.graph.valueInfo.delete(name);
    return out;
  }

  /** Registers a float32 parameter (initializer) under the current scope. */
  param(name: string, dims: number[], init: Init, fan?: { in: number; out: number }): Value {
    const full = this.paramName(name);
    if (this.graph.initializers.has(full)) throw new DiffusionError(`parameter '${full}' is defined twice`);
    const n = numElements(dims);
    const receptive = dims.length > 2 ? numElements(dims.slice(2)) : 1;
    const fanIn = fan?.in ?? (dims.length >= 2 ? dims[1] * receptive : dims[0]);
    const fanOut = fan?.out ?? dims[0] * receptive;
    const data = new Float32Array(n);
    const rng = this.rng;
    if (init === 'ones') data.fill(1);
    else if (init === 'kaiming') for (let i = 0; i < n; i++) data[i] = rng.normal() * Math.sqrt(2 / fanIn);
    else if (init === 'kaiming-uniform') {
      // PyTorch's default for Linear/Conv: kaiming_uniform(a = sqrt(5)) -> bound 1/sqrt(fan_in).
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
    } else if (init === 'xavier') {
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
    } else if (typeof init === 'object') {
      if ('normal' in init) for (let i = 0; i < n; i++) data[i] = rng.normal() * init.normal;
      else if ('uniform' in init) for (let i = 0; i < n; i++) data[i] = (rng.uniform() * 2 - 1) * init.uniform;
      else data.fill(init.constant);
    }
    return this.initializer(full, new Tensor('float32', [...dims], data));
  }

  /** Adds an initializer with an exact name. */
  initializer(name: string, t: Tensor): Value {
    this.graph.initializers.set(name, t);
    this.remember(name, knownFromTensor(t));
    return { name, dtype: t.dtype, shape: [...t.dims] };
  }

  /**
   * A constant, emitted as a Constant node (as PyTorch exports do), so that initializers are
   * exactly the parameters. Numbers default to float32 scalars / 1-D arrays.
   */
  constant(v: Tensor | number | number[], dtype: DType = 'float32', name = 'const'): Value {
    let t: Tensor;
    if (v instanceof Tensor) t = v;
    else if (typeof v === 'number') t = Tensor.scalar(v, dtype);
    else t = Tensor.from(dtype, [v.length], v);
    return this.node('Constant', [], { value: { type: 'tensor', value: t } }, 1, [this.uniqueName(name)])[0];
  }

  /** 1-D int64 constant (axes, shapes, pads...). */
  ints(v: number[], name = 'ints'): Value {
    return this.constant(v, 'int64', name);
  }

  /**
   * Appends a node with shape inference. `null` inputs become omitted optional inputs ('').
   * Returns one Value per output.
   */
  node(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput | undefined> = {}, nOutputs = 1, outNames?: string[]): Value[] {
    const attributes: Record<string, Attribute> = {};
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) attributes[k] = toAttr(k, v);
    const name = this.uniqueName(opType);
    const outputs = outNames ?? Array.from({ length: nOutputs }, (_, i) => (nOutputs === 1 ? `${name}:0` : `${name}:${i}`));
    for (const o of outNames ?? []) this.used.add(o);
    // Trailing omitted inputs are dropped: ORT mishandles a trailing '' (Squeeze reads null axes, LayerNormalization crashes).
    const names = inputs.map((v) => v?.name ?? '');
    while (names.length > 0 && names[names.length - 1] === '') names.pop();
    const node: Node = { name, opType, domain: '', inputs: names, outputs, attrs: attributes };
    const known = inferNode(node, node.inputs.map((i) => (i ? this.known.get(i) : undefined)), () => this.freshDim());
    this.graph.nodes.push(node);
    return outputs.map((o, i) => {
      const k = known[i] ?? { dtype: inputs[0]?.dtype ?? 'float32' };
      this.remember(o, k);
      const shape: Dim[] = k.shape ?? [];
      return { name: o, dtype: k.dtype, shape };
    });
  }

  /** Single-output node. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput | undefined> = {}): Value {
    return this.node(opType, inputs, attrs, 1)[0];
  }
}
