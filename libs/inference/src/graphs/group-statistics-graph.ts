import { onnx } from 'onnx-proto';
import { triangleSize } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { EMBEDDING_OUTPUT, mergeGraph } from './embedding-graph';

export const GROUP_MEAN_OUTPUT = 'group_mean';
export const GROUP_COMOMENT_OUTPUT = 'group_comoment';
const STATISTICS_PREFIX = 'group_statistics/';

/**
 * Flat indices (i·d + j, j ≥ i) of a d×d matrix's upper triangle, row by row: the packed order of the
 * accumulator's co-moments.
 */
export function upperTriangleIndices(d: number): number[] {
  const indices: number[] = [];
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) indices.push(i * d + j);
  return indices;
}

/**
 * Replaces an embedding graph's output (`embedding` [N, d, h, w]) by the statistics of the batch as one
 * group of N images: `group_mean` [h·w, d], each position's mean over the N images, and `group_comoment`
 * [h·w, d(d+1)/2], each position's co-moment about that mean Σ(x − x̄)(x − x̄)ᵀ as the packed upper
 * triangle. The embeddings then never leave the device, only these; the host merges them into its
 * float64 accumulator (mergeGroupStatistics). As in the Gram path, the samples are centred before their
 * float32 product, so its rounding stays near float32 epsilon of the co-moment itself; the mean is float32
 * here, which shifts the co-moment by N·eeᵀ (e its rounding, ~1e-7 of the mean): negligible.
 */
export function appendGroupStatistics(embeddingModelBytes: Uint8Array, d: number): Uint8Array {
  const model = onnx.ModelProto.decode(embeddingModelBytes);
  const graph = model.graph;
  if (!graph) throw new Error('appendGroupStatistics: the embedding model has no graph');
  if (!(graph.output ?? []).some((o) => o.name === EMBEDDING_OUTPUT)) {
    throw new Error(`appendGroupStatistics: the model has no output "${EMBEDDING_OUTPUT}" (outputs: ${(graph.output ?? []).map((o) => o.name).join(', ')})`);
  }
  const g = new OnnxGraphBuilder('group_statistics');
  const samples = g.node('Reshape', [EMBEDDING_OUTPUT, g.int64s('samples_shape', [0, d, -1])]); // [N, d, P]
  // ReduceSum takes its axes as an input from opset 13 on, as every backbone here has (ReduceMean only from 18).
  const sum = g.node('ReduceSum', [samples, g.int64s('image_axis', [0])], { keepdims: 1 }); // [1, d, P]
  const count = g.node('Cast', [g.node('Gather', [g.node('Shape', [samples]), g.int64s('count_index', [0])], { axis: 0 })], {
    to: onnx.TensorProto.DataType.FLOAT,
  });
  const mean = g.node('Div', [sum, count]);
  const centred = g.node('Transpose', [g.node('Sub', [samples, mean])], { perm: [2, 1, 0] }); // [P, d, N]
  // X·Xᵀ per position; onnxruntime folds the Transpose into the MatMul, as in the Gram graph.
  const gram = g.node('MatMul', [centred, g.node('Transpose', [centred], { perm: [0, 2, 1] })]); // [P, d, d]
  const flat = g.node('Reshape', [gram, g.int64s('gram_shape', [0, d * d])]);
  g.node('Gather', [flat, g.int64s('upper_triangle', upperTriangleIndices(d))], { axis: 1 }, [GROUP_COMOMENT_OUTPUT]);
  g.node('Transpose', [g.node('Reshape', [mean, g.int64s('mean_shape', [d, -1])])], { perm: [1, 0] }, [GROUP_MEAN_OUTPUT]);
  g.output(GROUP_MEAN_OUTPUT, 'float', ['positions', d]);
  g.output(GROUP_COMOMENT_OUTPUT, 'float', ['positions', triangleSize(d)]);

  const part = g.toModelProto().graph!;
  mergeGraph(graph, part, STATISTICS_PREFIX, [GROUP_MEAN_OUTPUT, GROUP_COMOMENT_OUTPUT], 'append');
  graph.output = part.output;
  return onnx.ModelProto.encode(model).finish();
}
