import { triangleSize } from '../linalg';
import type { GaussianAccumulator } from './gaussian-accumulator';

/**
 * Per-sample Welford update, one image at a time: μ' = μ + (x−μ)/n, M += (x−μ)(x−μ')ᵀ.
 * Slow and simple; the reference the accumulation specs test against, not part of the library.
 */
export function accumulateEmbeddingsReference(acc: GaussianAccumulator, batch: Float32Array, batchSize: number): GaussianAccumulator {
  const { positions: P, dim: d } = acc;
  if (batch.length !== batchSize * d * P) throw new RangeError(`batch has ${batch.length} values, expected ${batchSize * d * P}`);
  const T = triangleSize(d);
  const before = new Float64Array(d);
  const after = new Float64Array(d);
  for (let b = 0; b < batchSize; b++) {
    const n = acc.count + 1;
    for (let p = 0; p < P; p++) {
      for (let c = 0; c < d; c++) {
        const v = batch[b * d * P + c * P + p];
        const dl = v - acc.mean[p * d + c];
        before[c] = dl;
        acc.mean[p * d + c] += dl / n;
        after[c] = v - acc.mean[p * d + c];
      }
      let k = p * T;
      for (let i = 0; i < d; i++) for (let j = i; j < d; j++) acc.comoment[k++] += before[i] * after[j];
    }
    acc.count = n;
  }
  return acc;
}
