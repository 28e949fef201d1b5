import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

/**
 * Mahalanobis distance per image and position from the inverse Cholesky factor of each position's covariance:
 * inputs `embedding` [B, d, P], `mean` [P, d, 1] and `inv_cholesky` [P, d, d] (L⁻¹, zeros above the diagonal);
 * output `distance` [B, P] = ‖L⁻¹ (x − μ)‖₂. B and P are dynamic, so positions can be scored in blocks.
 */
export function buildMahalanobisGraph(d: number): Uint8Array {
  const g = new OnnxGraphBuilder('mahalanobis');
  const x = g.input('embedding', 'float', ['B', d, 'P']);
  const mean = g.input('mean', 'float', ['P', d, 1]);
  const invL = g.input('inv_cholesky', 'float', ['P', d, d]);
  addMahalanobisNodes(g, x, mean, invL, 'distance');
  g.output('distance', 'float', ['B', 'P']);
  return g.toBytes();
}

/** Adds the distance nodes to `g`: `embedding` [B, d, P], `mean` [P, d, 1], `invCholesky` [P, d, d] → `output` [B, P]. */
export function addMahalanobisNodes(g: OnnxGraphBuilder, embedding: string, mean: string, invCholesky: string, output?: string): string {
  const centred = g.node('Sub', [g.node('Transpose', [embedding], { perm: [2, 1, 0] }), mean]); // [P, d, B]
  const y = g.node('MatMul', [invCholesky, centred]); // [P, d, B]
  const squaredNorm = g.node('ReduceSum', [g.node('Mul', [y, y]), g.int64s('sum_axes', [1])], { keepdims: 0 }); // [P, B]
  return g.node('Transpose', [g.node('Sqrt', [squaredNorm])], { perm: [1, 0] }, output ? [output] : undefined);
}

/**
 * Expands packed lower-triangular matrices (row i holds columns 0..i at offset i(i+1)/2) into full
 * [P, d, d] row-major matrices with zeros above the diagonal.
 */
export function unpackLowerTriangular(packed: Float32Array, P: number, d: number): Float32Array {
  const tri = (d * (d + 1)) / 2;
  if (packed.length !== P * tri) {
    throw new Error(`unpackLowerTriangular: ${packed.length} values, expected P·d(d+1)/2 = ${P}·${tri} = ${P * tri}`);
  }
  const full = new Float32Array(P * d * d);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < d; i++) {
      const from = p * tri + (i * (i + 1)) / 2;
      full.set(packed.subarray(from, from + i + 1), (p * d + i) * d);
    }
  }
  return full;
}
