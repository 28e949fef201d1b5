import { triangleSize } from '../linalg';
import { assertAccumulator, mergeWeights, type GaussianAccumulator } from './gaussian-accumulator';

/**
 * Batched Gram product of centred samples: `centred` is [positions, d, B] float32, and `gram`
 * ([positions, d, d]) receives each position's XXᵀ (a MatMul in onnxruntime, or any GEMM).
 */
export type BatchedGram = (centred: Float32Array, positions: number, d: number, B: number, gram: Float32Array) => Promise<void>;

/**
 * Bytes of one block's [positions, d, d] Gram output. It bounds the GEMM's scratch whatever d is, and
 * small enough a block stays in cache between the GEMM writing it and the merge reading it: measured
 * faster than 16 MiB blocks, which go through memory twice.
 */
export const GRAM_BLOCK_BYTES = 2 ** 20;

/**
 * Positions per block so that a block's float32 Gram stays within GRAM_BLOCK_BYTES; a multiple of 16
 * where that allows, so that each read of a channel's run covers whole 64-byte cache lines.
 */
export function gramBlockPositions(d: number, positions: number): number {
  const fit = Math.max(1, Math.floor(GRAM_BLOCK_BYTES / (4 * d * d)));
  return Math.min(positions, fit >= 16 ? fit - (fit % 16) : fit);
}

/**
 * Adds a group of batches (each [n, d, P], as onnxruntime emits NCHW) to `acc` through a batched
 * float32 GEMM, as if they were one batch of their total size B. Per block of positions, the samples are
 * centred on their float64 group mean and rounded to float32, `gram` gives each position's centred
 * co-moment, and that is merged into the float64 accumulator by the pairwise (Chan) update
 * M = Ma + Mb + δδᵀ·na·nb/n. Centring within the group keeps the float32 values small relative to
 * their spread, so the GEMM's rounding stays near float32 epsilon of the co-moment itself.
 * The count moves once all blocks are in; a failure part-way leaves `acc` unusable (callers start over).
 */
export async function accumulateGroupByGram(
  acc: GaussianAccumulator,
  batches: { data: Float32Array; n: number }[],
  gram: BatchedGram,
  blockPositions = gramBlockPositions(acc.dim, acc.positions),
): Promise<GaussianAccumulator> {
  assertAccumulator(acc);
  const { positions: P, dim: d } = acc;
  const samples: Float32Array[] = [];
  for (const b of batches) {
    const expected = b.n * d * P;
    if (!Number.isSafeInteger(b.n) || b.n < 0 || b.data.length !== expected) {
      throw new RangeError(
        `accumulateGroupByGram: batch has ${b.data.length} values for n=${b.n}, expected n*dim*positions = ${b.n}*${d}*${P} = ${expected}`,
      );
    }
    for (let i = 0; i < b.n; i++) samples.push(b.data.subarray(i * d * P, (i + 1) * d * P));
  }
  const B = samples.length;
  if (B === 0) return acc;
  const { n, f, wb } = mergeWeights(acc.count, B);
  const block = Math.max(1, Math.min(blockPositions, P));
  const centred = new Float32Array(block * d * B);
  const groupMean = new Float64Array(block * d);
  const blockGram = new Float32Array(block * d * d);
  for (let p0 = 0; p0 < P; p0 += block) {
    const pb = Math.min(block, P - p0);
    const whole = pb === block;
    const blockCentred = whole ? centred : centred.subarray(0, pb * d * B);
    centreGroupBlock(samples, P, d, p0, pb, blockCentred, groupMean);
    await gram(blockCentred, pb, d, B, whole ? blockGram : blockGram.subarray(0, pb * d * d));
    mergeGramBlock(acc, p0, pb, groupMean, blockGram, f, wb);
  }
  acc.count = n;
  return acc;
}

/**
 * Positions [p0, p0+pb) of the samples ([d, P] each) centred on their group mean: `centred` gets
 * [pb, d, B] float32 (x − x̄, rounded once), `groupMean` gets x̄ as [pb, d] float64.
 */
function centreGroupBlock(samples: Float32Array[], P: number, d: number, p0: number, pb: number, centred: Float32Array, groupMean: Float64Array): void {
  const B = samples.length;
  groupMean.fill(0, 0, pb * d);
  // Channel by channel: the writes of one channel (pb·B floats) stay in L1 while each sample's run of
  // pb floats is read once, whole. Float32 values are copied exactly and centred below.
  for (let c = 0; c < d; c++) {
    for (let b = 0; b < B; b++) {
      const sample = samples[b];
      const src = c * P + p0;
      for (let pp = 0; pp < pb; pp++) {
        const x = sample[src + pp];
        groupMean[pp * d + c] += x;
        centred[(pp * d + c) * B + b] = x;
      }
    }
  }
  const invB = 1 / B;
  for (let k = 0; k < pb * d; k++) {
    const mu = groupMean[k] * invB;
    groupMean[k] = mu;
    for (let o = k * B; o < (k + 1) * B; o++) centred[o] -= mu;
  }
}

/** M[p] += G[p] (upper triangle) + f·δδᵀ and μ[p] += δ·wb, δ = x̄ − μ, for positions [p0, p0+pb). */
function mergeGramBlock(acc: GaussianAccumulator, p0: number, pb: number, groupMean: Float64Array, gram: Float32Array, f: number, wb: number): void {
  const d = acc.dim;
  const T = triangleSize(d);
  const mean = acc.mean;
  const m = acc.comoment;
  const delta = new Float64Array(d);
  for (let pp = 0; pp < pb; pp++) {
    const mo = (p0 + pp) * d;
    for (let c = 0; c < d; c++) {
      const dl = groupMean[pp * d + c] - mean[mo + c];
      delta[c] = dl;
      mean[mo + c] += dl * wb;
    }
    let k = (p0 + pp) * T;
    for (let i = 0; i < d; i++) {
      const di = delta[i] * f;
      const row = (pp * d + i) * d;
      for (let j = i; j < d; j++, k++) m[k] += gram[row + j] + di * delta[j];
    }
  }
}
