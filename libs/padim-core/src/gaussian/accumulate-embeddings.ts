import { triangleSize } from '../linalg';
import { assertAccumulator, mergeWeights, type GaussianAccumulator } from './gaussian-accumulator';

/** Positions gathered per block: enough to read runs of the [B, d, P] batch, small enough for L1/L2. */
const POSITION_BLOCK = 8;

/** Reused across calls; JS runs one kernel at a time per isolate, so sharing it is safe. */
let scratch = new Float64Array(0);

/**
 * Adds a batch of embeddings (layout [B, d, P], as onnxruntime emits NCHW) to `acc`, in place.
 *
 * Per position: the B×d slice is transposed into a contiguous float64 block, the batch's own mean
 * and centred co-moment are formed, and both are merged by the pairwise update
 * M = Ma + Mb + δδᵀ·na·nb/n. Centring before multiplying keeps precision when |μ| ≫ σ, which the
 * textbook Σxxᵀ − nμμᵀ does not. The co-moment loop is register-blocked 2 rows × 4 columns.
 */
export function accumulateEmbeddings(
  acc: GaussianAccumulator,
  batch: Float32Array,
  batchSize: number,
): GaussianAccumulator {
  assertBatch(acc, batch, batchSize, 'accumulateEmbeddings');
  if (batchSize === 0) return acc;
  const B = batchSize;
  const { positions: P, dim: d } = acc;
  const T = triangleSize(d);
  const { n, f, wb } = mergeWeights(acc.count, B);
  const mean = acc.mean;
  const m = acc.comoment;
  const dB = d * B;
  const dP = d * P;
  const need = POSITION_BLOCK * dB + d;
  if (scratch.length < need) scratch = new Float64Array(need);
  const x = scratch;
  // δ = batch mean − running mean, stored after the sample block.
  const dOff = POSITION_BLOCK * dB;
  const invB = 1 / B;

  for (let p0 = 0; p0 < P; p0 += POSITION_BLOCK) {
    const pb = Math.min(POSITION_BLOCK, P - p0);
    // Gather to x[pp][c][b]: reads are runs of pb floats, and each channel's B samples end up adjacent.
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < d; c++) {
        const src = b * dP + c * P + p0;
        let dst = c * B + b;
        for (let pp = 0; pp < pb; pp++, dst += dB) x[dst] = batch[src + pp];
      }
    }

    for (let pp = 0; pp < pb; pp++) {
      const p = p0 + pp;
      const xo = pp * dB;
      const mo = p * d;
      for (let c = 0; c < d; c++) {
        const o = xo + c * B;
        let s = 0;
        for (let b = 0; b < B; b++) s += x[o + b];
        const bm = s * invB;
        for (let b = 0; b < B; b++) x[o + b] -= bm;
        const dl = bm - mean[mo + c];
        x[dOff + c] = dl;
        mean[mo + c] += dl * wb;
      }

      const base = p * T;
      let i = 0;
      for (; i + 1 < d; i += 2) {
        // Packed-upper row starts shifted by −i so that (i, j) sits at ka + j.
        const ka = base + i * d - (i * (i - 1)) / 2 - i;
        const kb = ka + d - i - 1;
        const oa = xo + i * B;
        const ob = oa + B;
        const ea = x[dOff + i];
        const eb = x[dOff + i + 1];
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
          const e0 = x[dOff + j];
          const e1 = x[dOff + j + 1];
          const e2 = x[dOff + j + 2];
          const e3 = x[dOff + j + 3];
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
          const e = x[dOff + j];
          m[ka + j] += sa + da * e;
          m[kb + j] += sb + db * e;
        }
      }
      if (i < d) {
        // Odd d: the last row holds only its diagonal entry.
        const o = xo + i * B;
        let s = 0;
        for (let b = 0; b < B; b++) s += x[o + b] * x[o + b];
        const e = x[dOff + i];
        m[base + T - 1] += s + e * f * e;
      }
    }
  }
  acc.count = n;
  return acc;
}

/**
 * Per-sample Welford update, one image at a time: μ' = μ + (x−μ)/n, M += (x−μ)(x−μ')ᵀ.
 * Slow and simple; the reference that `accumulateEmbeddings` is tested against.
 */
export function accumulateEmbeddingsReference(
  acc: GaussianAccumulator,
  batch: Float32Array,
  batchSize: number,
): GaussianAccumulator {
  assertBatch(acc, batch, batchSize, 'accumulateEmbeddingsReference');
  const { positions: P, dim: d } = acc;
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

function assertBatch(acc: GaussianAccumulator, batch: Float32Array, batchSize: number, fn: string): void {
  assertAccumulator(acc);
  if (!Number.isSafeInteger(batchSize) || batchSize < 0) {
    throw new RangeError(`${fn}: batchSize must be a non-negative integer, got ${batchSize}`);
  }
  const expected = batchSize * acc.dim * acc.positions;
  if (batch.length !== expected) {
    throw new RangeError(
      `${fn}: batch has ${batch.length} values, expected batchSize*dim*positions = ${batchSize}*${acc.dim}*${acc.positions} = ${expected}`,
    );
  }
}
