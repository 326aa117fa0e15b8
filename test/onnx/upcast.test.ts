/**
 * The float16 -> float32 widening pass (src/onnx/upcast.ts) on a small graph that has every kind
 * of float16 it rewrites: a float16 input and output, an initializer in raw_data, a Constant whose
 * tensor is in int32_data (the other encoding ONNX allows for float16), ConstantOfShape's value,
 * Cast(to=float16), RandomNormalLike's dtype and an If branch with a float16 Constant. Reference:
 * the closed form of the graph, computed here; both the proto pass and the IR pass (upcastModel)
 * must give it in ONNX Runtime with float32 feeds, and leave no float16 behind.
 */
import { strict as assert } from 'node:assert';
import * as ort from 'onnxruntime-node';
import { onnx } from '../../src/onnx/onnx-proto';
import { decodeModel, encodeModel } from '../../src/onnx/proto';
import { floatToHalf } from '../../src/onnx/tensor';
import { hasFloat16, upcastFloat16, upcastModel } from '../../src/onnx/upcast';

const F16 = onnx.TensorProto.DataType.FLOAT16;
const F32 = onnx.TensorProto.DataType.FLOAT;
const half = (xs: number[]) => Uint16Array.from(xs, floatToHalf);
const rawHalf = (xs: number[]) => new Uint8Array(half(xs).buffer);
const io = (name: string, elemType: number, dims: number[]): onnx.IValueInfoProto =>
  ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const attr = (name: string, v: Partial<onnx.IAttributeProto>): onnx.IAttributeProto => ({ name, ...v });

/** y = Cast16(x * w + c) + fill + (0 * noise) + (flag ? 0.5 : -0.5), all float16; x: [4] float16, flag: bool scalar. */
function halfModel(): onnx.ModelProto {
  const node = (opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto =>
    ({ opType, input, output, attribute, name: output[0] });
  const T = onnx.AttributeProto.AttributeType;
  const tensor = (t: onnx.ITensorProto) => attr('value', { type: T.TENSOR, t });
  const branch = (v: number): onnx.IGraphProto => ({
    name: `b${v}`, node: [node('Constant', [], [`k${v}`], [tensor({ dataType: F16, dims: [1], rawData: rawHalf([v]) })])],
    output: [io(`k${v}`, F16, [1])],
  });
  const graph: onnx.IGraphProto = {
    name: 'g',
    input: [io('x', F16, [4]), io('flag', onnx.TensorProto.DataType.BOOL, [])],
    output: [io('y', F16, [4])],
    initializer: [{ name: 'w', dataType: F16, dims: [4], rawData: rawHalf([1, 2, 3, 0.25]) }],
    node: [
      node('Constant', [], ['c'], [tensor({ dataType: F16, dims: [4], int32Data: [...half([0.5, -1, 1.5, 2])] })]),
      node('Mul', ['x', 'w'], ['xw']),
      node('Add', ['xw', 'c'], ['a']),
      node('Cast', ['a'], ['a32'], [attr('to', { type: T.INT, i: F32 })]),
      node('Cast', ['a32'], ['a16'], [attr('to', { type: T.INT, i: F16 })]),
      node('Constant', [], ['shape'], [tensor({ dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [4] })]),
      node('ConstantOfShape', ['shape'], ['fill'], [tensor({ dataType: F16, dims: [1], rawData: rawHalf([3]) })]),
      node('RandomNormalLike', ['x'], ['noise'], [attr('dtype', { type: T.INT, i: F16 })]),
      node('Sub', ['noise', 'noise'], ['zero']),
      node('If', ['flag'], ['k'], [attr('then_branch', { type: T.GRAPH, g: branch(0.5) }), attr('else_branch', { type: T.GRAPH, g: branch(-0.5) })]),
      node('Add', ['a16', 'fill'], ['b']),
      node('Add', ['b', 'zero'], ['b2']),
      node('Add', ['b2', 'k'], ['y']),
    ],
  };
  return onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph });
}

async function runFloat32(bytes: Uint8Array, x: number[], flag: boolean): Promise<{ type: string; data: number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from(x), [4]), flag: new ort.Tensor('bool', Uint8Array.of(flag ? 1 : 0), []) });
  await s.release();
  return { type: r.y.type, data: [...(r.y.data as Float32Array)] };
}

describe('float16 -> float32 upcast pass', () => {
  const x = [1, 2, -3, 8];
  const want = (flag: boolean) => x.map((v, i) => v * [1, 2, 3, 0.25][i] + [0.5, -1, 1.5, 2][i] + 3 + (flag ? 0.5 : -0.5));

  it('widens every float16 tensor and type (ModelProto pass), and the graph computes its closed form in float32', async () => {
    const m = halfModel();
    assert.ok(hasFloat16(m));
    const report = upcastFloat16(m, { readExternal: () => { throw new Error('no external data here'); } });
    assert.ok(!hasFloat16(m), 'float16 left after the pass');
    // tensors: w, c, fill and the two branch constants; types: x, y, the branch outputs, Cast's to, RandomNormalLike's dtype
    assert.equal(report.tensors, 5);
    assert.equal(report.types, 6);
    const bytes = onnx.ModelProto.encode(m).finish();
    for (const flag of [true, false]) assert.deepEqual(await runFloat32(bytes, x, flag), { type: 'float32', data: want(flag) });
  });

  it('the IR pass (upcastModel, for training) gives the same graph results and returns a float32 model unchanged', async () => {
    const ir = decodeModel(onnx.ModelProto.encode(halfModel()).finish());
    const up = upcastModel(ir);
    assert.notEqual(up, ir);
    assert.ok(!hasFloat16(onnx.ModelProto.decode(encodeModel(up))));
    for (const flag of [true, false]) assert.deepEqual(await runFloat32(encodeModel(up), x, flag), { type: 'float32', data: want(flag) });
    assert.equal(upcastModel(up), up);
  });
});
