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
 * Bytes of the centred float32 samples of one block of positions ([positions, d, B]). Large enough that
 * each sample's run of one channel spans many cache lines, so the gather touches each memory page of
 * the B samples once per long run: gathering 16-position blocks took twice the CPU (resnet18 d=100, B=64).
 */
export const CENTRED_BLOCK_BYTES = 8 * 2 ** 20;

/** Positions per GEMM call so that its float32 Gram output stays within GRAM_BLOCK_BYTES. */
export function gramBlockPositions(d: number, positions: number): number {
  return Math.max(1, Math.min(positions, Math.floor(GRAM_BLOCK_BYTES / (4 * d * d))));
}

/** Positions centred at once, within CENTRED_BLOCK_BYTES: a multiple of 16 (whole cache lines of a run) where that fits. */
export function centredBlockPositions(d: number, B: number, positions: number): number {
  const fit = Math.max(1, Math.floor(CENTRED_BLOCK_BYTES / (4 * d * B)));
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
  blockPositions?: { centred: number; gram: number },
): Promise<GaussianAccumulator> {
  assertAccumulator(acc);
  const { positions: P, dim: d } = acc;
  const samples: Float32Array[] = [];
  for (const b of batches) {
    const expected = b.n * d * P;
    if (!Number.isSafeInteger(b.n) || b.n < 0 || b.data.length !== expected) {
      throw new RangeError(`accumulateGroupByGram: batch has ${b.data.length} values for n=${b.n}, expected n*dim*positions = ${b.n}*${d}*${P} = ${expected}`);
    }
    for (let i = 0; i < b.n; i++) samples.push(b.data.subarray(i * d * P, (i + 1) * d * P));
  }
  const B = samples.length;
  if (B === 0) return acc;
  const { n, f, wb } = mergeWeights(acc.count, B);
  const block = Math.max(1, Math.min(blockPositions?.centred ?? centredBlockPositions(d, B, P), P));
  const gramBlock = Math.max(1, Math.min(blockPositions?.gram ?? gramBlockPositions(d, P), block));
  const centred = new Float32Array(block * d * B);
  const groupMean = new Float64Array(block * d);
  const blockGram = new Float32Array(gramBlock * d * d);
  for (let p0 = 0; p0 < P; p0 += block) {
    const pb = Math.min(block, P - p0);
    centreGroupBlock(samples, P, d, p0, pb, centred, groupMean);
    // Each GEMM's output is merged while it is still in cache.
    for (let q0 = 0; q0 < pb; q0 += gramBlock) {
      const qb = Math.min(gramBlock, pb - q0);
      const qGram = qb === gramBlock ? blockGram : blockGram.subarray(0, qb * d * d);
      await gram(centred.subarray(q0 * d * B, (q0 + qb) * d * B), qb, d, B, qGram);
      mergeGramBlock(acc, p0 + q0, qb, groupMean.subarray(q0 * d), qGram, 'full', f, wb);
    }
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
  const dB = d * B;
  const invB = 1 / B;
  const sums = new Float64Array(pb);
  // Channel by channel: each sample's run of pb floats of the channel is read once, whole, and the
  // channel's pb·B values are centred while they are still in cache. Float32 inputs copy exactly.
  for (let c = 0; c < d; c++) {
    sums.fill(0);
    const src = c * P + p0;
    for (let b = 0; b < B; b++) {
      const sample = samples[b];
      for (let pp = 0, dst = c * B + b; pp < pb; pp++, dst += dB) {
        const x = sample[src + pp];
        sums[pp] += x;
        centred[dst] = x;
      }
    }
    for (let pp = 0; pp < pb; pp++) {
      const mu = sums[pp] * invB;
      groupMean[pp * d + c] = mu;
      const o = pp * dB + c * B;
      for (let b = o; b < o + B; b++) centred[b] -= mu;
    }
  }
}

/**
 * Merges one group's statistics, computed elsewhere (e.g. in the graph that runs the backbone), into
 * `acc` by Chan's pairwise update: `n` images, their mean per position `groupMean` ([positions, d]) and
 * their co-moment about that mean `comoment`, the packed upper triangle per position ([positions, d(d+1)/2]).
 * The merge is the Gram path's: the group's co-moment is added as it is, the shift of the means in float64.
 */
export function mergeGroupStatistics(
  acc: GaussianAccumulator,
  group: { n: number; mean: Float32Array | Float64Array; comoment: Float32Array },
): GaussianAccumulator {
  assertAccumulator(acc);
  const { positions: P, dim: d } = acc;
  const { n: B, mean, comoment } = group;
  if (!Number.isSafeInteger(B) || B < 0) throw new RangeError(`mergeGroupStatistics: group count must be a non-negative integer, got ${B}`);
  if (mean.length !== P * d || comoment.length !== P * triangleSize(d)) {
    throw new RangeError(
      `mergeGroupStatistics: group has ${mean.length} means and ${comoment.length} co-moments, expected positions×d = ${P * d} and positions×d(d+1)/2 = ${P * triangleSize(d)}`,
    );
  }
  if (B === 0) return acc;
  const { n, f, wb } = mergeWeights(acc.count, B);
  mergeGramBlock(acc, 0, P, mean, comoment, 'packed', f, wb);
  acc.count = n;
  return acc;
}

/**
 * M[p] += G[p] (upper triangle) + f·δδᵀ and μ[p] += δ·wb, δ = x̄ − μ, for positions [p0, p0+pb).
 * `gram` holds each position's d×d matrix ('full') or only its packed upper triangle ('packed').
 */
function mergeGramBlock(
  acc: GaussianAccumulator,
  p0: number,
  pb: number,
  groupMean: Float32Array | Float64Array,
  gram: Float32Array,
  layout: 'full' | 'packed',
  f: number,
  wb: number,
): void {
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
    if (layout === 'packed') {
      // The packed triangle lines up with the accumulator's, entry for entry.
      let g = pp * T;
      for (let i = 0; i < d; i++) {
        const di = delta[i] * f;
        for (let j = i; j < d; j++, k++, g++) m[k] += gram[g] + di * delta[j];
      }
      continue;
    }
    for (let i = 0; i < d; i++) {
      const di = delta[i] * f;
      const row = (pp * d + i) * d;
      for (let j = i; j < d; j++, k++) m[k] += gram[row + j] + di * delta[j];
    }
  }
}
