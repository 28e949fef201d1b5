import { triangleSize } from '../linalg';

type Floats = Float32Array | Float64Array;

/** Positions whose differences are gathered together, so strided channel reads become short runs. */
const POSITION_BLOCK = 16;

/**
 * Mahalanobis distance (not squared) per position for one image, in plain JS: the reference that the
 * wasm kernel and the scorer's onnxruntime distances are tested against.
 *
 * `embedding` is [d, P] (one image of an NCHW batch), `mean` is P*d position-major, `invCholesky` is
 * P*T packed lower L⁻¹ with Σ = L·Lᵀ. The distance is ‖L⁻¹(x − μ)‖, summed in float64.
 */
export function mahalanobisMap(
  embedding: Floats,
  mean: Floats,
  invCholesky: Floats,
  dim: number,
  positions: number,
  out: Float32Array = new Float32Array(positions),
): Float32Array {
  return mahalanobisMapBatch(embedding, mean, invCholesky, dim, positions, 1, out);
}

/** `mahalanobisMap` over a batch [B, d, P]; returns [B, P] distances. */
export function mahalanobisMapBatch(
  embeddings: Floats,
  mean: Floats,
  invCholesky: Floats,
  dim: number,
  positions: number,
  batchSize: number,
  out: Float32Array = new Float32Array(batchSize * positions),
): Float32Array {
  const d = dim;
  const P = positions;
  const B = batchSize;
  const T = triangleSize(d);
  assertShapes(embeddings, mean, invCholesky, d, P, B, out);

  const dP = d * P;
  const diff = new Float64Array(POSITION_BLOCK * B * d);
  for (let p0 = 0; p0 < P; p0 += POSITION_BLOCK) {
    const pb = Math.min(POSITION_BLOCK, P - p0);
    // diff[pp][b][c] = x − μ, read along positions, written per position contiguously.
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < d; c++) {
        const src = b * dP + c * P + p0;
        for (let pp = 0; pp < pb; pp++) {
          diff[(pp * B + b) * d + c] = embeddings[src + pp] - mean[(p0 + pp) * d + c];
        }
      }
    }
    for (let pp = 0; pp < pb; pp++) {
      const p = p0 + pp;
      const lo = p * T;
      let b = 0;
      // Four images at a time share each load of L⁻¹.
      for (; b + 3 < B; b += 4) {
        const x0 = (pp * B + b) * d;
        const x1 = x0 + d;
        const x2 = x1 + d;
        const x3 = x2 + d;
        let k = lo;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = 0; i < d; i++) {
          let y0 = 0;
          let y1 = 0;
          let y2 = 0;
          let y3 = 0;
          for (let j = 0; j <= i; j++) {
            const l = invCholesky[k + j];
            y0 += l * diff[x0 + j];
            y1 += l * diff[x1 + j];
            y2 += l * diff[x2 + j];
            y3 += l * diff[x3 + j];
          }
          k += i + 1;
          s0 += y0 * y0;
          s1 += y1 * y1;
          s2 += y2 * y2;
          s3 += y3 * y3;
        }
        out[b * P + p] = Math.sqrt(s0);
        out[(b + 1) * P + p] = Math.sqrt(s1);
        out[(b + 2) * P + p] = Math.sqrt(s2);
        out[(b + 3) * P + p] = Math.sqrt(s3);
      }
      for (; b < B; b++) {
        const xo = (pp * B + b) * d;
        let k = lo;
        let sum = 0;
        for (let i = 0; i < d; i++) {
          let y = 0;
          for (let j = 0; j <= i; j++) y += invCholesky[k++] * diff[xo + j];
          sum += y * y;
        }
        out[b * P + p] = Math.sqrt(sum);
      }
    }
  }
  return out;
}

function assertShapes(embeddings: Floats, mean: Floats, invCholesky: Floats, d: number, P: number, B: number, out: Float32Array): void {
  for (const [name, v] of [
    ['dim', d],
    ['positions', P],
    ['batchSize', B],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`mahalanobisMap: ${name} must be a positive integer, got ${v}`);
  }
  if (embeddings.length !== B * d * P) {
    throw new RangeError(`mahalanobisMap: embedding has ${embeddings.length} values, expected B*d*P = ${B}*${d}*${P} = ${B * d * P}`);
  }
  if (mean.length !== P * d) throw new RangeError(`mahalanobisMap: mean has ${mean.length} values, expected P*d = ${P * d}`);
  const t = P * triangleSize(d);
  if (invCholesky.length !== t) {
    throw new RangeError(`mahalanobisMap: invCholesky has ${invCholesky.length} values, expected P*d(d+1)/2 = ${t}`);
  }
  if (out.length !== B * P) throw new RangeError(`mahalanobisMap: out has ${out.length} values, expected ${B * P}`);
}
