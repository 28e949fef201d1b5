import { onnx } from 'onnx-proto';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

/**
 * Per-position first and second moments of one batch of embeddings, in float64 (onnxruntime's CPU MatMul
 * has a DGEMM path): input `embedding` [B, d, P] float; outputs `batch_mean` [P, d] double and
 * `batch_comoment` [P, d, d] double = Σ_b (x_b − mean)(x_b − mean)ᵀ, ready for a pairwise (Chan) merge.
 * P is dynamic: to bound memory ([P, d, d] doubles is 8·P·d² bytes), pass a [B, d, Pblock] slice per call.
 */
export function buildBatchMomentsGraph(d: number): Uint8Array {
  const g = new OnnxGraphBuilder('batch_moments');
  const x = g.input('embedding', 'float', ['B', d, 'P']);
  const x64 = g.node('Transpose', [g.node('Cast', [x], { to: onnx.TensorProto.DataType.DOUBLE })], { perm: [2, 1, 0] }); // [P, d, B]
  const mean = g.node('ReduceMean', [x64], { axes: [2], keepdims: 1 }); // [P, d, 1]
  const centred = g.node('Sub', [x64, mean]);
  g.node('MatMul', [centred, g.node('Transpose', [centred], { perm: [0, 2, 1] })], {}, ['batch_comoment']);
  g.node('Squeeze', [mean, g.int64s('squeeze_axes', [2])], {}, ['batch_mean']);
  g.output('batch_mean', 'double', ['P', d]);
  g.output('batch_comoment', 'double', ['P', d, d]);
  return g.toBytes();
}
