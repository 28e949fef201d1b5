import { triangleSize } from '../linalg';
import { layOutMemory } from '../wasm/kernel-layout';
import { compileWasmModule, growMemoryTo, instantiateWasm, WASM_PAGE_BYTES, type GrowableMemory } from '../wasm/wasm-module';
import { gramBandFloats, gramBands } from './gram-bands';
import { GRAM_CENTRE_LAYOUT, GRAM_CENTRE_WASM_BASE64 } from './gram-centre-wasm';

const QUAD = GRAM_CENTRE_LAYOUT.constants.QUAD;
/** Samples summed per pass of sumSamples. */
const SUM_PASS_SAMPLES = 8;
/** Wasm32 memory ends at 4 GiB; a group that does not fit below it takes the scalar path. */
const MAX_WASM_BYTES = 2 ** 32 - WASM_PAGE_BYTES;

interface KernelExports extends GrowableMemory {
  sumSamples(xOff: number, first: number, count: number, n: number, sumOff: number): void;
  mergeBands(pb: number, d: number, nBands: number, bandsOff: number, gOff: number, mOff: number, deltaOff: number, f: number): void;
  centre(
    p0: number,
    pb: number,
    P: number,
    d: number,
    B: number,
    invB: number,
    xOff: number,
    sumOff: number,
    mean32Off: number,
    mean64Off: number,
    cOff: number,
  ): void;
}

/** Samples per position row of the centred block: B rounded up to a whole quad (the extra columns are zero). */
export function paddedSamples(B: number): number {
  return Math.ceil(B / QUAD) * QUAD;
}

/** A centred block of positions: [pb][d][Bs] f32 samples minus their group mean, and the means [pb][d] f64. */
export interface CentredBlock {
  centred: Float32Array;
  groupMean: Float64Array;
}

/**
 * The group of a Gram pass held in wasm memory: `capacity` samples of [d][P] f32, copied in and summed
 * (f64, [d][P]) as they arrive, and the centring kernel (gram-centre.wat) that turns blocks of
 * `blockPositions` positions of them into what the batched GEMM takes. Sized once, never grown: one instance serves every group of a
 * training.
 */
export interface GramCentreKernel {
  readonly capacity: number;
  /** Sample slot `i` ([d][P]) in the kernel's memory, to copy a sample into. */
  sample(i: number): Float32Array;
  /**
   * Adds slots [first, first+count), copied in, to the group's sums (first = 0 starts a new group).
   * The slots follow those summed before: the sums are always of samples 0..summed−1.
   */
  sumSamples(first: number, count: number): void;
  /** Centres positions [p0, p0+pb) (pb ≤ blockPositions) of the first B samples, all summed; the views are valid until the next call. */
  centre(p0: number, pb: number, B: number): CentredBlock;
  /** Where the GEMM writes the banded Gram product of up to gramBlockPositions positions, for mergeBands to read. */
  readonly gram: Float32Array;
  /** Where the caller puts δ ([pb][d] f64, the group means less the accumulator's) for mergeBands. */
  readonly delta: Float64Array;
  /**
   * comoment += G + f·δδᵀ for a block of pb ≤ gramBlockPositions positions: `comoment` is their packed
   * co-moments ([pb][d(d+1)/2] f64, copied in and back), G the bands in `gram`, δ in `delta`.
   */
  mergeBands(comoment: Float64Array, pb: number, f: number): void;
}

/** The kernel for a group of `capacity` samples, or null where WebAssembly SIMD or that much wasm memory is unavailable. */
export function gramCentreKernel(positions: number, d: number, capacity: number, blockPositions: number, gramBlockPositions: number): GramCentreKernel | null {
  const Bs = paddedSamples(capacity);
  const starts = gramBands(d);
  const T = triangleSize(d);
  const { offsets, total } = layOutMemory(GRAM_CENTRE_LAYOUT.layouts.group, {
    centred: blockPositions * d * Bs * 4,
    sums: d * positions * 8,
    mean32: d * blockPositions * 4,
    mean64: blockPositions * d * 8,
    gram: gramBlockPositions * gramBandFloats(d) * 4,
    delta: gramBlockPositions * d * 8,
    comoment: gramBlockPositions * T * 8,
    bands: starts.length * 4,
    x: capacity * d * positions * 4,
  });
  if (total > MAX_WASM_BYTES) return null;
  const module = compileWasmModule(GRAM_CENTRE_WASM_BASE64);
  const wasm = module && instantiateWasm<KernelExports>(module);
  if (!wasm || !growMemoryTo(wasm, total)) return null;
  const buffer = wasm.memory.buffer;
  const sampleFloats = d * positions;
  new Int32Array(buffer, offsets.bands, starts.length).set(starts);
  const comoment = new Float64Array(buffer, offsets.comoment, gramBlockPositions * T);
  let summed = 0;
  return {
    capacity,
    gram: new Float32Array(buffer, offsets.gram, gramBlockPositions * gramBandFloats(d)),
    delta: new Float64Array(buffer, offsets.delta, gramBlockPositions * d),
    mergeBands: (block, pb, f) => {
      if (!Number.isInteger(pb) || pb < 1 || pb > gramBlockPositions || block.length !== pb * T) {
        throw new RangeError(`gramCentreKernel: cannot merge ${block.length} co-moments as ${pb} positions (at most ${gramBlockPositions}) of ${T}`);
      }
      const inKernel = comoment.subarray(0, pb * T);
      inKernel.set(block);
      wasm.mergeBands(pb, d, starts.length - 1, offsets.bands, offsets.gram, offsets.comoment, offsets.delta, f);
      block.set(inKernel);
    },
    sample: (i) => {
      if (!Number.isInteger(i) || i < 0 || i >= capacity) throw new RangeError(`gramCentreKernel: sample slot ${i} is outside 0..${capacity - 1}`);
      return new Float32Array(buffer, offsets.x + i * sampleFloats * 4, sampleFloats);
    },
    sumSamples: (first, count) => {
      if (!Number.isInteger(first) || !Number.isInteger(count) || count < 1 || first + count > capacity || (first !== 0 && first !== summed)) {
        throw new RangeError(`gramCentreKernel: cannot sum slots [${first}, ${first + count}) after ${summed} summed, of ${capacity} slots`);
      }
      // A few samples per pass: each is a stream the pass reads 16 bytes at a time from, and many
      // streams at once thrash the TLB (adding a batch of 128 took 0.5 ms per image in one pass, 0.26 in passes of 8).
      for (let at = first; at < first + count; at += SUM_PASS_SAMPLES) {
        wasm.sumSamples(offsets.x, at, Math.min(SUM_PASS_SAMPLES, first + count - at), sampleFloats, offsets.sums);
      }
      summed = first + count;
    },
    centre: (p0, pb, B) => {
      if (pb < 1 || pb > blockPositions || p0 < 0 || p0 + pb > positions || B < 1 || B > capacity) {
        throw new RangeError(
          `gramCentreKernel: block [${p0}, ${p0 + pb}) of ${B} samples is outside ${positions} positions, blocks of ${blockPositions}, ${capacity} samples`,
        );
      }
      if (B !== summed) throw new RangeError(`gramCentreKernel: centring ${B} samples, but the sums are of ${summed}`);
      const centred = new Float32Array(buffer, offsets.centred, pb * d * paddedSamples(B));
      // Padding columns add nothing to the products only while they are zero; the kernel never writes them.
      if (B % QUAD !== 0) centred.fill(0);
      wasm.centre(p0, pb, positions, d, B, 1 / B, offsets.x, offsets.sums, offsets.mean32, offsets.mean64, offsets.centred);
      return { centred, groupMean: new Float64Array(buffer, offsets.mean64, pb * d) };
    },
  };
}

/**
 * The scalar twin of gram-centre.wat's `centre`, with the same operations in the same order (means
 * summed in float64 over b = 0..B−1 and multiplied by 1/B; each value centred as x − f32(mean) in
 * float32), so both give identical bytes: positions [p0, p0+pb) of `samples` ([d][P] each) into
 * `centred` [pb][d][Bs] (padding columns zero) and `groupMean` [pb][d].
 */
export function centreGroupBlockScalar(
  samples: Float32Array[],
  P: number,
  d: number,
  p0: number,
  pb: number,
  centred: Float32Array,
  groupMean: Float64Array,
): void {
  const B = samples.length;
  const Bs = paddedSamples(B);
  const invB = 1 / B;
  const sums = new Float64Array(pb);
  if (B !== Bs) centred.fill(0, 0, pb * d * Bs);
  // Channel by channel: each sample's run of pb floats of the channel is read whole, and the
  // channel's values centred while they are still in cache.
  for (let c = 0; c < d; c++) {
    sums.fill(0);
    const src = c * P + p0;
    for (let b = 0; b < B; b++) {
      const sample = samples[b];
      for (let pp = 0; pp < pb; pp++) sums[pp] += sample[src + pp];
    }
    for (let pp = 0; pp < pb; pp++) {
      const mu = sums[pp] * invB;
      groupMean[pp * d + c] = mu;
      const mu32 = Math.fround(mu);
      const row = (pp * d + c) * Bs;
      for (let b = 0; b < B; b++) centred[row + b] = samples[b][src + pp] - mu32;
    }
  }
}
