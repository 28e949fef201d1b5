import { triangleSize } from '../linalg';
import { assertAccumulator, assertPositiveInteger, createGaussianAccumulator, mergeWeights, type GaussianAccumulator } from './gaussian-accumulator';
import { comomentKernel, residentComoment, type ComomentKernel } from './comoment-kernel';

/** Positions gathered per block: enough to read runs of the [B, d, P] batch, small enough for L1/L2. */
const POSITION_BLOCK = 8;

/** Accumulators whose co-moments live in a kernel's memory, by their co-moment array. */
const residents = new WeakMap<Float64Array, ComomentKernel>();

/** Batches up to this size go through a resident accumulator's kernel; larger ones take the copying path. */
export const DEFAULT_RESIDENT_MAX_BATCH = 64;

/**
 * An accumulator for accumulateEmbeddings to update in place: its co-moments live in the memory of
 * their own wasm kernel, so no batch copies them in and out. Where that is not possible (no wasm, or
 * over 2 GB of co-moments) it is a plain accumulator, and everything works as with one.
 */
export function createResidentGaussianAccumulator(positions: number, dim: number, maxBatch = DEFAULT_RESIDENT_MAX_BATCH): GaussianAccumulator {
  assertPositiveInteger(positions, 'positions');
  assertPositiveInteger(dim, 'dim');
  const resident = residentComoment(positions, dim, POSITION_BLOCK, maxBatch);
  if (!resident) return createGaussianAccumulator(positions, dim);
  residents.set(resident.m, resident);
  return { positions, dim, count: 0, mean: new Float64Array(positions * dim), comoment: resident.m };
}

/** Reused across calls; JS runs one kernel at a time per isolate, so sharing them is safe. */
let scratchX = new Float64Array(0);
let scratchE = new Float64Array(0);

/**
 * Adds a batch of embeddings (layout [B, d, P], as onnxruntime emits NCHW) to `acc`, in place.
 *
 * Per position: the B×d slice is gathered into a contiguous float64 block and centred on the batch
 * mean, and the batch's centred co-moment is merged by the pairwise update
 * M = Ma + Mb + δδᵀ·na·nb/n in one pass over M. Centring before multiplying keeps precision when
 * |μ| ≫ σ, which the textbook Σxxᵀ − nμμᵀ does not. The co-moment runs in a WebAssembly f64x2
 * kernel (comoment-kernel.wat) where available, else in register-blocked scalar JS; both perform the
 * same float64 operations in the same order.
 */
export function accumulateEmbeddings(acc: GaussianAccumulator, batch: Float32Array, batchSize: number): GaussianAccumulator {
  assertBatch(acc, batch, batchSize, 'accumulateEmbeddings');
  return accumulateSamples(acc, sampleViews(batch, batchSize, acc.dim * acc.positions));
}

/**
 * accumulateEmbeddings over several batches at once, as if they were one batch of their total size:
 * the same result as concatenating them, without the copy. A larger batch amortises each pass over
 * the co-moments over more images.
 */
export function accumulateEmbeddingGroup(acc: GaussianAccumulator, batches: { data: Float32Array; n: number }[]): GaussianAccumulator {
  const samples: Float32Array[] = [];
  for (const b of batches) {
    assertBatch(acc, b.data, b.n, 'accumulateEmbeddingGroup');
    samples.push(...sampleViews(b.data, b.n, acc.dim * acc.positions));
  }
  return accumulateSamples(acc, samples);
}

function sampleViews(batch: Float32Array, B: number, perSample: number): Float32Array[] {
  return Array.from({ length: B }, (_, b) => batch.subarray(b * perSample, (b + 1) * perSample));
}

/** Each sample is one image's [d, P] embedding. */
function accumulateSamples(acc: GaussianAccumulator, samples: Float32Array[]): GaussianAccumulator {
  const batchSize = samples.length;
  if (batchSize === 0) return acc;
  const { n, f, wb } = mergeWeights(acc.count, batchSize);
  const resident = residents.get(acc.comoment);
  if (resident && batchSize <= resident.maxBatch) accumulateWasm(acc, samples, f, wb, resident, false);
  else {
    const kernel = comomentKernel(POSITION_BLOCK, acc.dim, batchSize);
    if (kernel) accumulateWasm(acc, samples, f, wb, kernel, true);
    else accumulateScalar(acc, samples, f, wb);
  }
  acc.count = n;
  return acc;
}

/** `staged`: the kernel is the shared staging one, so each block of M is copied in and back out. */
function accumulateWasm(acc: GaussianAccumulator, samples: Float32Array[], f: number, wb: number, kernel: ComomentKernel, staged: boolean): void {
  const { positions: P, dim: d } = acc;
  const B = samples.length;
  const T = triangleSize(d);
  const m = acc.comoment;
  const mean = acc.mean;
  for (let p0 = 0; p0 < P; p0 += POSITION_BLOCK) {
    const pb = Math.min(POSITION_BLOCK, P - p0);
    // [B][d] per position: the kernels vectorise over channels of one sample.
    gather(samples, P, d, p0, pb, kernel.x, d, 1);
    kernel.mean.set(mean.subarray(p0 * d, (p0 + pb) * d));
    kernel.centre(pb, d, B, wb);
    mean.set(kernel.mean.subarray(0, pb * d), p0 * d);
    if (staged) {
      kernel.m.set(m.subarray(p0 * T, (p0 + pb) * T));
      kernel.run(pb, d, B, f);
      m.set(kernel.m.subarray(0, pb * T), p0 * T);
    } else kernel.run(pb, d, B, f, p0);
  }
}

function accumulateScalar(acc: GaussianAccumulator, samples: Float32Array[], f: number, wb: number): void {
  const { positions: P, dim: d } = acc;
  const B = samples.length;
  const dB = d * B;
  if (scratchX.length < POSITION_BLOCK * dB) scratchX = new Float64Array(POSITION_BLOCK * dB);
  if (scratchE.length < POSITION_BLOCK * d) scratchE = new Float64Array(POSITION_BLOCK * d);
  const x = scratchX;
  const e = scratchE;
  for (let p0 = 0; p0 < P; p0 += POSITION_BLOCK) {
    const pb = Math.min(POSITION_BLOCK, P - p0);
    // [d][B] per position: each channel's B samples adjacent for the dot products below.
    gather(samples, P, d, p0, pb, x, 1, B);
    centre(acc.mean, p0, pb, d, B, x, 1, B, e, wb);
    for (let pp = 0; pp < pb; pp++) comomentScalar(acc.comoment, p0 + pp, x, pp * dB, e, pp * d, d, B, f);
  }
}

/** Copies positions [p0, p0+pb) of each [d, P] sample to x: position stride d·B, sample stride sb, channel stride sc. */
function gather(samples: Float32Array[], P: number, d: number, p0: number, pb: number, x: Float64Array, sb: number, sc: number): void {
  const B = samples.length;
  const dB = d * B;
  // Reads are runs of pb floats.
  for (let b = 0; b < B; b++) {
    const sample = samples[b];
    for (let c = 0; c < d; c++) {
      const src = c * P + p0;
      let dst = b * sb + c * sc;
      for (let pp = 0; pp < pb; pp++, dst += dB) x[dst] = sample[src + pp];
    }
  }
}

/**
 * Centres the gathered block on its batch means, stores δ = batch mean − running mean in e and moves
 * the running mean by δ·wb; scalar twin of the wasm `centre`.
 */
function centre(mean: Float64Array, p0: number, pb: number, d: number, B: number, x: Float64Array, sb: number, sc: number, e: Float64Array, wb: number): void {
  const dB = d * B;
  const invB = 1 / B;
  for (let pp = 0; pp < pb; pp++) {
    const xo = pp * dB;
    const mo = (p0 + pp) * d;
    const eo = pp * d;
    for (let c = 0; c < d; c++) {
      const o = xo + c * sc;
      let s = 0;
      for (let b = 0; b < B; b++) s += x[o + b * sb];
      const bm = s * invB;
      for (let b = 0; b < B; b++) x[o + b * sb] -= bm;
      const dl = bm - mean[mo + c];
      e[eo + c] = dl;
      mean[mo + c] += dl * wb;
    }
  }
}

/**
 * M[p] += XᵀX + f·δδᵀ for one position, X centred at x[xo + c·B + b], δ at e[eo + c]. Register-blocked
 * 2 rows × 4 columns so each loaded value serves several multiply-adds.
 */
function comomentScalar(m: Float64Array, p: number, x: Float64Array, xo: number, e: Float64Array, eo: number, d: number, B: number, f: number): void {
  const T = triangleSize(d);
  const base = p * T;
  let i = 0;
  for (; i + 1 < d; i += 2) {
    // Packed-upper row starts shifted by −i so that (i, j) sits at ka + j.
    const ka = base + i * d - (i * (i - 1)) / 2 - i;
    const kb = ka + d - i - 1;
    const oa = xo + i * B;
    const ob = oa + B;
    const ea = e[eo + i];
    const eb = e[eo + i + 1];
    const da = ea * f;
    const db = eb * f;
    let saa = 0;
    let sab = 0;
    let sbb = 0;
    for (let b = 0; b < B; b++) {
      const xa = x[oa + b];
      const xb = x[ob + b];
      saa += xa * xa;
      sab += xa * xb;
      sbb += xb * xb;
    }
    m[ka + i] += saa + da * ea;
    m[ka + i + 1] += sab + da * eb;
    m[kb + i + 1] += sbb + db * eb;

    let j = i + 2;
    for (; j + 3 < d; j += 4) {
      const o0 = xo + j * B;
      const o1 = o0 + B;
      const o2 = o1 + B;
      const o3 = o2 + B;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let b = 0; b < B; b++) {
        const xa = x[oa + b];
        const xb = x[ob + b];
        const y0 = x[o0 + b];
        const y1 = x[o1 + b];
        const y2 = x[o2 + b];
        const y3 = x[o3 + b];
        a0 += xa * y0;
        a1 += xa * y1;
        a2 += xa * y2;
        a3 += xa * y3;
        b0 += xb * y0;
        b1 += xb * y1;
        b2 += xb * y2;
        b3 += xb * y3;
      }
      const e0 = e[eo + j];
      const e1 = e[eo + j + 1];
      const e2 = e[eo + j + 2];
      const e3 = e[eo + j + 3];
      m[ka + j] += a0 + da * e0;
      m[ka + j + 1] += a1 + da * e1;
      m[ka + j + 2] += a2 + da * e2;
      m[ka + j + 3] += a3 + da * e3;
      m[kb + j] += b0 + db * e0;
      m[kb + j + 1] += b1 + db * e1;
      m[kb + j + 2] += b2 + db * e2;
      m[kb + j + 3] += b3 + db * e3;
    }
    for (; j < d; j++) {
      const oj = xo + j * B;
      let sa = 0;
      let sb = 0;
      for (let b = 0; b < B; b++) {
        const y = x[oj + b];
        sa += x[oa + b] * y;
        sb += x[ob + b] * y;
      }
      const ej = e[eo + j];
      m[ka + j] += sa + da * ej;
      m[kb + j] += sb + db * ej;
    }
  }
  if (i < d) {
    // Odd d: the last row holds only its diagonal entry.
    const o = xo + i * B;
    let s = 0;
    for (let b = 0; b < B; b++) s += x[o + b] * x[o + b];
    const ei = e[eo + i];
    m[base + T - 1] += s + ei * f * ei;
  }
}

function assertBatch(acc: GaussianAccumulator, batch: Float32Array, batchSize: number, fn: string): void {
  assertAccumulator(acc);
  if (!Number.isSafeInteger(batchSize) || batchSize < 0) {
    throw new RangeError(`${fn}: batchSize must be a non-negative integer, got ${batchSize}`);
  }
  const expected = batchSize * acc.dim * acc.positions;
  if (batch.length !== expected) {
    throw new RangeError(`${fn}: batch has ${batch.length} values, expected batchSize*dim*positions = ${batchSize}*${acc.dim}*${acc.positions} = ${expected}`);
  }
}
