import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from './onnx-graph-builder';

describe('OnnxGraphBuilder', () => {
  it('builds a graph that onnxruntime runs: y = relu(x·W + b)', async () => {
    const g = new OnnxGraphBuilder('tiny');
    const x = g.input('x', 'float', ['n', 2]);
    const w = g.initializer('w', new Float32Array([1, -1, 2, 0.5]), [2, 2]);
    const b = g.initializer('b', new Float32Array([0.5, -10]), [2]);
    const y = g.node('Add', [g.node('MatMul', [x, w]), b]);
    g.node('Relu', [y], {}, ['y']);
    g.output('y', 'float', ['n', 2]);
    const session = await ort.InferenceSession.create(g.toBytes());
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]) });
    // [1,2]·W = [1+4, -1+1] = [5, 0] + b = [5.5, -10] → relu [5.5, 0]; [3,4]·W = [11, -1] + b → [11.5, 0]
    expect(Array.from(out.y.data as Float32Array)).toEqual([5.5, 0, 11.5, 0]);
  });

  it('rejects a reused value name', () => {
    const g = new OnnxGraphBuilder('dup');
    g.input('x', 'float', [1]);
    expect(() => g.initializer('x', new Float32Array([1]), [1])).toThrow(/"x" is already used/);
  });

  it('rejects data that does not fit its dims', () => {
    const g = new OnnxGraphBuilder('bad');
    expect(() => g.initializer('w', new Float32Array(3), [2, 2])).toThrow(/3 values for dims \[2, 2\]/);
  });
});
