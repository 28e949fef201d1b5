import { accumulateEmbeddings, createResidentGaussianAccumulator } from './accumulate-embeddings';
import { createGaussianAccumulator } from './gaussian-accumulator';
import { triangleSize } from '../linalg';

export interface AccumulateBenchResult {
  positions: number;
  dim: number;
  batchSize: number;
  msPerBatch: number;
  /** Wall time over B·T·P, the co-moment multiply-adds of one batch. */
  nsPerMultiplyAdd: number;
}

export function benchAccumulate({ positions = 4096, dim = 100, batchSize = 16, repeats = 5, resident = true } = {}): AccumulateBenchResult {
  const batch = new Float32Array(batchSize * dim * positions);
  let state = 12345;
  for (let i = 0; i < batch.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    batch[i] = state / 4294967296;
  }
  const acc = resident ? createResidentGaussianAccumulator(positions, dim) : createGaussianAccumulator(positions, dim);
  accumulateEmbeddings(acc, batch, batchSize);
  accumulateEmbeddings(acc, batch, batchSize);
  const t0 = performance.now();
  for (let r = 0; r < repeats; r++) accumulateEmbeddings(acc, batch, batchSize);
  const msPerBatch = (performance.now() - t0) / repeats;
  const macs = batchSize * triangleSize(dim) * positions;
  return { positions, dim, batchSize, msPerBatch, nsPerMultiplyAdd: (msPerBatch * 1e6) / macs };
}
