import { triangleSize } from '../linalg';
import { assertAccumulator, assertPositiveInteger, mergeWeights, type GaussianAccumulator } from './gaussian-accumulator';
import { gramBandFloats, gramBandLayout } from './gram-bands';
import { centreGroupBlockScalar, gramCentreKernel, paddedSamples, type CentredBlock, type GramCentreKernel } from './gram-centre-kernel';

/**
 * Batched Gram product of centred samples: `centred` is [positions, d, B] float32, and `gram`
 * (positions × gramBandFloats(d)) receives the row bands (gramBands) of each position's XXᵀ, band after
 * band, each [positions, rows, d − first row] (a MatMul per band in onnxruntime, or any GEMM). B may
 * include zero columns (the group padded to a multiple of four samples).
 */
export type BatchedGram = (centred: Float32Array, positions: number, d: number, B: number, gram: Float32Array) => Promise<void>;

/**
 * Bytes of one block's banded Gram output. It bounds the GEMM's scratch whatever d is, and
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
  return Math.max(1, Math.min(positions, Math.floor(GRAM_BLOCK_BYTES / (4 * gramBandFloats(d)))));
}

/**
 * Bytes the wasm kernel holds to merge one GEMM block of positions: its banded Gram output, the shift
 * of the means and a copy of the block's packed co-moments (2.4 MB at d=100, 4096 positions).
 */
export function gramMergeBytes(d: number, positions: number): number {
  return gramBlockPositions(d, positions) * (gramBandFloats(d) * 4 + d * 8 + triangleSize(d) * 8);
}

/** Positions centred at once, within CENTRED_BLOCK_BYTES: a multiple of 16 (whole cache lines of a run) where that fits. */
export function centredBlockPositions(d: number, B: number, positions: number): number {
  const fit = Math.max(1, Math.floor(CENTRED_BLOCK_BYTES / (4 * d * B)));
  return Math.min(positions, fit >= 16 ? fit - (fit % 16) : fit);
}

/** Passes a group of samples through the Gram path; see GramGroup. */
export interface GramGroupOptions {
  /** Positions per centred block and per GEMM call. @defaultValue centredBlockPositions and gramBlockPositions */
  blockPositions?: { centred: number; gram: number };
  /** false: the scalar centring twin over the batches where they are, not the wasm kernel. @defaultValue true */
  wasm?: boolean;
}

/**
 * The samples of one Gram pass, up to `capacity` images of [d, P] float32 (one embedding each, as
 * onnxruntime emits NCHW), and the pass that adds them to a float64 accumulator: per block of
 * positions, the samples are centred on their group mean and rounded to float32, `gram` gives each
 * position's centred co-moment, and that is merged into the accumulator by the pairwise (Chan) update
 * M = Ma + Mb + δδᵀ·na·nb/n. Centring within the group keeps the float32 values small relative to their
 * spread, so the GEMM's rounding stays near float32 epsilon of the co-moment itself.
 *
 * With WebAssembly SIMD the samples are copied into the centring kernel's memory as they are added
 * (sized once for `capacity`, reused by every group), where the kernel transposes them a block at a
 * time into the GEMM's layout; without it the scalar twin reads them where they are, to the same bytes.
 */
export class GramGroup {
  private readonly kernel: GramCentreKernel | null;
  private readonly views: Float32Array[] = [];
  private readonly block: number;
  private readonly gramBlock: number;
  private count = 0;

  constructor(
    readonly positions: number,
    readonly dim: number,
    readonly capacity: number,
    opts: GramGroupOptions = {},
  ) {
    assertPositiveInteger(positions, 'positions');
    assertPositiveInteger(dim, 'dim');
    assertPositiveInteger(capacity, 'capacity');
    const P = positions;
    this.block = Math.max(1, Math.min(opts.blockPositions?.centred ?? centredBlockPositions(dim, paddedSamples(capacity), P), P));
    this.gramBlock = Math.max(1, Math.min(opts.blockPositions?.gram ?? gramBlockPositions(dim, P), this.block));
    this.kernel = opts.wasm === false ? null : gramCentreKernel(P, dim, capacity, this.block, this.gramBlock);
  }

  /** Images held, waiting for mergeInto. */
  get size(): number {
    return this.count;
  }

  /** 'wasm' when the centring kernel holds the samples, 'scalar' otherwise. */
  get centring(): 'wasm' | 'scalar' {
    return this.kernel ? 'wasm' : 'scalar';
  }

  /** Adds a batch of n samples ([n, d, P]); the scalar path keeps a view of it, the wasm path a copy and its sums. */
  add(batch: Float32Array, n: number): void {
    const per = this.dim * this.positions;
    if (!Number.isSafeInteger(n) || n < 0 || batch.length !== n * per) {
      throw new RangeError(
        `GramGroup.add: batch has ${batch.length} values for n=${n}, expected n*dim*positions = ${n}*${this.dim}*${this.positions} = ${n * per}`,
      );
    }
    if (this.count + n > this.capacity) throw new RangeError(`GramGroup.add: ${this.count} + ${n} samples exceed the group's capacity of ${this.capacity}`);
    if (n === 0) return;
    const first = this.count;
    for (let i = 0; i < n; i++) {
      const sample = batch.subarray(i * per, (i + 1) * per);
      if (this.kernel) this.kernel.sample(this.count).set(sample);
      else this.views.push(sample);
      this.count++;
    }
    // The batch's sums while it is still in cache; the scalar twin sums at merge time, in the same order.
    this.kernel?.sumSamples(first, n);
  }

  /**
   * Adds the held samples to `acc` and empties the group. The count moves once all blocks are in; a
   * failure part-way leaves `acc` unusable (callers start over).
   */
  async mergeInto(acc: GaussianAccumulator, gram: BatchedGram): Promise<GaussianAccumulator> {
    assertAccumulator(acc);
    const { positions: P, dim: d } = acc;
    if (P !== this.positions || d !== this.dim)
      throw new RangeError(`GramGroup.mergeInto: the group is ${this.positions} positions × d=${this.dim}, the accumulator ${P} × d=${d}`);
    const B = this.count;
    if (B === 0) return acc;
    const T = triangleSize(d);
    const Bs = paddedSamples(B);
    const { n, f, wb } = mergeWeights(acc.count, B);
    const kernel = this.kernel;
    const scratch = kernel ? null : { centred: new Float32Array(this.block * d * Bs), groupMean: new Float64Array(this.block * d) };
    // With the kernel, the GEMM writes where its merge reads.
    const blockGram = kernel ? kernel.gram : new Float32Array(this.gramBlock * gramBandFloats(d));
    try {
      for (let p0 = 0; p0 < P; p0 += this.block) {
        const pb = Math.min(this.block, P - p0);
        let block: CentredBlock;
        if (kernel) block = kernel.centre(p0, pb, B);
        else {
          centreGroupBlockScalar(this.views, P, d, p0, pb, scratch!.centred, scratch!.groupMean);
          block = scratch!;
        }
        // Each GEMM's output is merged while it is still in cache.
        for (let q0 = 0; q0 < pb; q0 += this.gramBlock) {
          const qb = Math.min(this.gramBlock, pb - q0);
          const qGram = qb === this.gramBlock ? blockGram : blockGram.subarray(0, qb * gramBandFloats(d));
          await gram(block.centred.subarray(q0 * d * Bs, (q0 + qb) * d * Bs), qb, d, Bs, qGram);
          const groupMean = block.groupMean.subarray(q0 * d);
          if (kernel) {
            shiftMeans(acc, p0 + q0, qb, groupMean, wb, kernel.delta);
            kernel.mergeBands(acc.comoment.subarray((p0 + q0) * T, (p0 + q0 + qb) * T), qb, f);
          } else mergeGramBlock(acc, p0 + q0, qb, groupMean, qGram, 'bands', f, wb);
        }
      }
    } finally {
      this.count = 0;
      this.views.length = 0;
    }
    acc.count = n;
    return acc;
  }
}

/**
 * Adds a group of batches (each [n, d, P], as onnxruntime emits NCHW) to `acc` through a batched
 * float32 GEMM, as if they were one batch of their total size: one GramGroup pass. A pipeline that
 * passes many groups keeps one GramGroup instead, whose wasm memory is then sized and touched once.
 */
export async function accumulateGroupByGram(
  acc: GaussianAccumulator,
  batches: { data: Float32Array; n: number }[],
  gram: BatchedGram,
  opts: GramGroupOptions = {},
): Promise<GaussianAccumulator> {
  assertAccumulator(acc);
  const { positions: P, dim: d } = acc;
  for (const b of batches) {
    const expected = b.n * d * P;
    if (!Number.isSafeInteger(b.n) || b.n < 0 || b.data.length !== expected) {
      throw new RangeError(`accumulateGroupByGram: batch has ${b.data.length} values for n=${b.n}, expected n*dim*positions = ${b.n}*${d}*${P} = ${expected}`);
    }
  }
  const B = batches.reduce((sum, b) => sum + b.n, 0);
  if (B === 0) return acc;
  const group = new GramGroup(P, d, B, opts);
  for (const b of batches) group.add(b.data, b.n);
  return group.mergeInto(acc, gram);
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
 * μ[p] += δ·wb for positions [p0, p0+pb), δ = x̄ − μ (before the update), and δ into `delta` [pb][d]: the
 * shift of the means, which the co-moments' merge needs.
 */
function shiftMeans(acc: GaussianAccumulator, p0: number, pb: number, groupMean: Float32Array | Float64Array, wb: number, delta: Float64Array): Float64Array {
  const d = acc.dim;
  const mean = acc.mean;
  for (let pp = 0; pp < pb; pp++) {
    const mo = (p0 + pp) * d;
    for (let c = 0; c < d; c++) {
      const dl = groupMean[pp * d + c] - mean[mo + c];
      delta[pp * d + c] = dl;
      mean[mo + c] += dl * wb;
    }
  }
  return delta;
}

/**
 * M[p] += G[p] (upper triangle) + f·δδᵀ and μ[p] += δ·wb, δ = x̄ − μ, for positions [p0, p0+pb).
 * `gram` holds the block's row bands ('bands', as BatchedGram writes them) or each position's packed
 * upper triangle ('packed'). The scalar twin of gram-centre.wat's mergeBands, to the same bytes.
 */
function mergeGramBlock(
  acc: GaussianAccumulator,
  p0: number,
  pb: number,
  groupMean: Float32Array | Float64Array,
  gram: Float32Array,
  layout: 'bands' | 'packed',
  f: number,
  wb: number,
): void {
  const d = acc.dim;
  const T = triangleSize(d);
  const m = acc.comoment;
  const delta = shiftMeans(acc, p0, pb, groupMean, wb, new Float64Array(pb * d));
  const bands = gramBandLayout(d, pb);
  for (let pp = 0; pp < pb; pp++) {
    const dl = pp * d;
    let k = (p0 + pp) * T;
    if (layout === 'packed') {
      // The packed triangle lines up with the accumulator's, entry for entry.
      let g = pp * T;
      for (let i = 0; i < d; i++) {
        const di = delta[dl + i] * f;
        for (let j = i; j < d; j++, k++, g++) m[k] += gram[g] + di * delta[dl + j];
      }
      continue;
    }
    for (const { first, rows, width, offset } of bands) {
      for (let i = first; i < first + rows; i++) {
        const di = delta[dl + i] * f;
        // Row i's column j is at row + j: the band's columns start at its first row.
        const row = offset + (pp * rows + i - first) * width - first;
        for (let j = i; j < d; j++, k++) m[k] += gram[row + j] + di * delta[dl + j];
      }
    }
  }
}
