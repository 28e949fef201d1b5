import { PythonRandom } from '../random';
import { triangleSize, unpackLower } from '../linalg';
import {
  accumulateEmbeddings,
  cloneAccumulator,
  createGaussianAccumulator,
  finalizeGaussian,
  mergeGaussianAccumulators,
  mergeInto,
  sliceAccumulator,
  toFloat32Gaussian,
  finalizeGaussianFloat32,
  finalizeGaussianInPlace,
  type GaussianAccumulator,
} from './index';
import { accumulateEmbeddingsReference } from './accumulate-embeddings.reference';
import { finalizeKernel } from './finalize-kernel';

/** N samples, layout [N, d, P], correlated across channels through a shared per-sample factor. */
function makeSamples(seed: number, n: number, d: number, p: number, offset = 0, sigma = 1): Float32Array {
  const rng = new PythonRandom(seed);
  const out = new Float32Array(n * d * p);
  const channelOffset = Array.from({ length: d }, (_, c) => offset + c * 0.5);
  for (let s = 0; s < n; s++)
    for (let q = 0; q < p; q++) {
      const shared = rng.gauss();
      for (let c = 0; c < d; c++) {
        out[s * d * p + c * p + q] = channelOffset[c] + sigma * (rng.gauss() + (c % 3) * 0.4 * shared);
      }
    }
  return out;
}

function samplesRange(samples: Float32Array, d: number, p: number, start: number, end: number): Float32Array {
  return samples.subarray(start * d * p, end * d * p);
}

/** numpy-style two-pass statistics: mean first, then Σ (x−μ)(x−μ)ᵀ, per position. */
function twoPass(samples: Float32Array, n: number, d: number, p: number): { mean: Float64Array; comoment: Float64Array } {
  const T = triangleSize(d);
  const mean = new Float64Array(p * d);
  const comoment = new Float64Array(p * T);
  for (let q = 0; q < p; q++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += samples[i * d * p + c * p + q];
      mean[q * d + c] = s / n;
    }
    let k = q * T;
    for (let a = 0; a < d; a++)
      for (let b = a; b < d; b++) {
        let s = 0;
        for (let i = 0; i < n; i++) {
          s += (samples[i * d * p + a * p + q] - mean[q * d + a]) * (samples[i * d * p + b * p + q] - mean[q * d + b]);
        }
        comoment[k++] = s;
      }
  }
  return { mean, comoment };
}

/** |actual − expected| <= rel · max|expected| element-wise. */
function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const tol = rel * (scale || 1);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
    }
  }
}

function expectSameAccumulator(a: GaussianAccumulator, b: GaussianAccumulator, rel = 1e-9): void {
  expect([a.positions, a.dim, a.count]).toEqual([b.positions, b.dim, b.count]);
  expectRelClose(a.mean, b.mean, rel);
  expectRelClose(a.comoment, b.comoment, rel);
}

/** Accumulates samples [start, end) in batches of the given sizes, cycling through them. */
function accumulateRange(samples: Float32Array, d: number, p: number, start: number, end: number, batchSizes: number[]): GaussianAccumulator {
  const acc = createGaussianAccumulator(p, d);
  let s = start;
  for (let i = 0; s < end; i++) {
    const b = Math.min(batchSizes[i % batchSizes.length], end - s);
    accumulateEmbeddings(acc, samplesRange(samples, d, p, s, s + b), b);
    s += b;
  }
  return acc;
}

describe('accumulateEmbeddings', () => {
  it.each([
    [1, 1],
    [2, 3],
    [7, 5],
    [10, 6],
    [13, 4],
  ])('agrees with the per-sample Welford reference (d=%i, P=%i)', (d, p) => {
    const n = 41;
    const samples = makeSamples(d * 10 + p, n, d, p, 3);
    const fast = accumulateRange(samples, d, p, 0, n, [1, 8, 16, 3, 13]);
    const ref = createGaussianAccumulator(p, d);
    accumulateEmbeddingsReference(ref, samples, n);
    expectSameAccumulator(fast, ref);
  });

  it.each([
    [9, 7],
    [10, 5],
  ])('equals numpy-style two-pass mean and co-moment (d=%i, P=%i)', (d, p) => {
    const n = 50;
    const samples = makeSamples(7, n, d, p, -2);
    const acc = accumulateRange(samples, d, p, 0, n, [16, 16, 5]);
    const exact = twoPass(samples, n, d, p);
    expect(acc.count).toBe(n);
    expectRelClose(acc.mean, exact.mean);
    expectRelClose(acc.comoment, exact.comoment);
  });

  it.each([1, 3, 7])('shards in any order, merged, equal one pass (%i shards)', (shards) => {
    const d = 11;
    const p = 9;
    const n = 60;
    const samples = makeSamples(100 + shards, n, d, p, 5);
    const single = accumulateRange(samples, d, p, 0, n, [16]);
    const rng = new PythonRandom(shards);
    const cuts = rng
      .sample(
        Array.from({ length: n - 1 }, (_, i) => i + 1),
        shards - 1,
      )
      .sort((a, b) => a - b);
    const bounds = [0, ...cuts, n];
    const parts = bounds.slice(1).map((end, i) => accumulateRange(samples, d, p, bounds[i], end, [3, 8]));
    const order = rng.sample(parts, parts.length);
    const merged = order.reduce((acc, part) => mergeInto(acc, part), createGaussianAccumulator(p, d));
    expectSameAccumulator(merged, single);
    // A balanced tree of merges, as a reducer over parallel workers would do.
    let level = order.map(cloneAccumulator);
    while (level.length > 1) {
      const next: GaussianAccumulator[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? mergeGaussianAccumulators(level[i], level[i + 1]) : level[i]);
      level = next;
    }
    expectSameAccumulator(level[0], single);
    expectRelClose(finalizeGaussian(merged).invCholesky, finalizeGaussian(single).invCholesky);
  });

  it('keeps precision with a large offset, where Σxxᵀ − nμμᵀ does not', () => {
    const d = 4;
    const p = 3;
    const n = 256;
    const samples = makeSamples(5, n, d, p, 1e4, 0.1);
    const acc = accumulateRange(samples, d, p, 0, n, [16]);
    const exact = twoPass(samples, n, d, p);
    expectRelClose(acc.comoment, exact.comoment, 1e-9);
    expectRelClose(acc.mean, exact.mean, 1e-14);

    const T = triangleSize(d);
    const textbook = new Float64Array(p * T);
    for (let q = 0; q < p; q++) {
      let k = q * T;
      for (let a = 0; a < d; a++)
        for (let b = a; b < d; b++) {
          let sxy = 0;
          let sx = 0;
          let sy = 0;
          for (let i = 0; i < n; i++) {
            const x = samples[i * d * p + a * p + q];
            const y = samples[i * d * p + b * p + q];
            sxy += x * y;
            sx += x;
            sy += y;
          }
          textbook[k++] = sxy - (sx * sy) / n;
        }
    }
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < textbook.length; i++) {
      worst = Math.max(worst, Math.abs(textbook[i] - exact.comoment[i]));
      scale = Math.max(scale, Math.abs(exact.comoment[i]));
    }
    expect(worst / scale).toBeGreaterThan(1e-8);
  });

  it('treats batchSize 0 as a no-op and validates the batch length', () => {
    const acc = createGaussianAccumulator(4, 3);
    expect(accumulateEmbeddings(acc, new Float32Array(0), 0).count).toBe(0);
    expect(() => accumulateEmbeddings(acc, new Float32Array(10), 1)).toThrow(/batch has 10 values, expected batchSize\*dim\*positions = 1\*3\*4 = 12/);
    expect(() => accumulateEmbeddings(acc, new Float32Array(12), 1.5)).toThrow(/batchSize must be a non-negative integer/);
    expect(() => createGaussianAccumulator(0, 3)).toThrow(/positions must be a positive integer/);
  });
});

describe('merging and slicing', () => {
  it('mergeGaussianAccumulators leaves its inputs alone; empty accumulators are identities', () => {
    const d = 5;
    const p = 3;
    const samples = makeSamples(3, 20, d, p);
    const a = accumulateRange(samples, d, p, 0, 12, [4]);
    const b = accumulateRange(samples, d, p, 12, 20, [4]);
    const aCopy = cloneAccumulator(a);
    const bCopy = cloneAccumulator(b);
    const merged = mergeGaussianAccumulators(a, b);
    expect(merged.count).toBe(20);
    expect(a).toEqual(aCopy);
    expect(b).toEqual(bCopy);
    expect(mergeGaussianAccumulators(createGaussianAccumulator(p, d), a)).toEqual(a);
    expect(mergeGaussianAccumulators(a, createGaussianAccumulator(p, d))).toEqual(a);
    expect(mergeGaussianAccumulators(createGaussianAccumulator(p, d), createGaussianAccumulator(p, d)).count).toBe(0);
  });

  it('rejects merging different shapes', () => {
    expect(() => mergeInto(createGaussianAccumulator(3, 2), createGaussianAccumulator(3, 4))).toThrow(
      /cannot merge positions=3, dim=4 into positions=3, dim=2/,
    );
  });

  it('positions are independent: a slice of the whole equals the whole of the slice', () => {
    const d = 4;
    const p = 10;
    const n = 12;
    const samples = makeSamples(4, n, d, p);
    const acc = accumulateRange(samples, d, p, 0, n, [5]);
    const slice = sliceAccumulator(acc, 3, 7);
    expect([slice.positions, slice.dim, slice.count]).toEqual([4, d, n]);
    const sub = new Float32Array(n * d * 4);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) for (let q = 0; q < 4; q++) sub[i * d * 4 + c * 4 + q] = samples[i * d * p + c * p + q + 3];
    expectSameAccumulator(slice, accumulateRange(sub, d, 4, 0, n, [5]), 0);
    expect(() => sliceAccumulator(acc, 5, 5)).toThrow(/0 <= start < end <= 10/);
    expect(() => sliceAccumulator(acc, 0, 11)).toThrow(/0 <= start < end <= 10/);
  });
});

describe('finalizeGaussian', () => {
  it('hand-checkable 2-D case: samples (1, 2) and (3, 6)', () => {
    // mean (2, 4); ddof=1 covariance [[2, 4], [4, 8]], plus 0.01·I = [[2.01, 4], [4, 8.01]].
    // L = [[√2.01, 0], [4/√2.01, √(8.01 − 16/2.01)]], L⁻¹ = [[1/L00, 0], [−L10/(L00·L11), 1/L11]].
    const acc = createGaussianAccumulator(1, 2);
    accumulateEmbeddings(acc, Float32Array.from([1, 2, 3, 6]), 2);
    const g = finalizeGaussian(acc);
    const l00 = Math.sqrt(2.01);
    const l10 = 4 / l00;
    const l11 = Math.sqrt(8.01 - 16 / 2.01);
    expectRelClose(g.mean, [2, 4], 1e-15);
    expectRelClose(g.invCholesky, [1 / l00, -l10 / (l00 * l11), 1 / l11], 1e-12);
  });

  it('1-D: samples 1..4 give variance 5/3 (ddof=1)', () => {
    const acc = createGaussianAccumulator(1, 1);
    accumulateEmbeddings(acc, Float32Array.from([1, 2, 3, 4]), 4);
    expect(finalizeGaussian(acc, { regularization: 0 }).invCholesky[0]).toBeCloseTo(1 / Math.sqrt(5 / 3), 14);
  });

  it('Σ·Σ⁻¹ = I, with Σ the numpy-style covariance + 0.01·I and Σ⁻¹ = L⁻ᵀL⁻¹ from the factor', () => {
    const d = 12;
    const p = 3;
    const n = 40;
    const samples = makeSamples(21, n, d, p, 2);
    const g = finalizeGaussian(accumulateRange(samples, d, p, 0, n, [16]));
    const exact = twoPass(samples, n, d, p);
    const T = triangleSize(d);
    for (let q = 0; q < p; q++) {
      const sigma = new Float64Array(d * d);
      let k = q * T;
      for (let a = 0; a < d; a++)
        for (let b = a; b < d; b++, k++) {
          sigma[a * d + b] = sigma[b * d + a] = exact.comoment[k] / (n - 1) + (a === b ? 0.01 : 0);
        }
      const li = unpackLower(g.invCholesky, d, undefined, q * T);
      const precision = new Float64Array(d * d);
      for (let a = 0; a < d; a++)
        for (let b = 0; b < d; b++) {
          let s = 0;
          for (let t = 0; t < d; t++) s += li[t * d + a] * li[t * d + b];
          precision[a * d + b] = s;
        }
      for (let a = 0; a < d; a++)
        for (let b = 0; b < d; b++) {
          let s = 0;
          for (let t = 0; t < d; t++) s += sigma[a * d + t] * precision[t * d + b];
          expect(Math.abs(s - (a === b ? 1 : 0))).toBeLessThan(1e-9);
        }
    }
  });

  it('rejects count < 2 and bad regularization', () => {
    const acc = createGaussianAccumulator(2, 2);
    expect(() => finalizeGaussian(acc)).toThrow(/at least 2 samples.*count=0/);
    accumulateEmbeddings(acc, new Float32Array(4), 1);
    expect(() => finalizeGaussian(acc)).toThrow(/count=1/);
    accumulateEmbeddings(acc, new Float32Array(4), 1);
    expect(() => finalizeGaussian(acc, { regularization: -1 })).toThrow(/regularization must be a finite number >= 0/);
  });

  it.each([true, false])('names the position whose covariance is not positive definite (wasm %s)', (wasm) => {
    const acc = createGaussianAccumulator(3, 2);
    acc.count = 5;
    acc.comoment.set([4, 0, 4, 4, 0, -4, 4, 0, 4]);
    expect(() => finalizeGaussian(acc, { wasm })).toThrow(/position 1.*pivot 1 is -0.99/);
  });

  it('finalises in the wasm kernel under Node, to the bits of the scalar path, for every block shape of d', () => {
    expect(finalizeKernel(7)).not.toBeNull();
    for (const d of [...Array.from({ length: 18 }, (_, i) => i + 1), 31, 64, 101]) {
      const p = 3;
      const n = d + 6;
      const acc = accumulateRange(makeSamples(d, n, d, p, 1.5), d, p, 0, n, [n]);
      const wasm = finalizeGaussian(acc, { regularization: 0.02 });
      const scalar = finalizeGaussian(acc, { regularization: 0.02, wasm: false });
      expect(Buffer.from(wasm.invCholesky.buffer).equals(Buffer.from(scalar.invCholesky.buffer))).toBe(true);
      const inPlace = finalizeGaussianInPlace(cloneAccumulator(acc), { regularization: 0.02 });
      expect(Buffer.from(inPlace.invCholesky.buffer, 0, inPlace.invCholesky.byteLength).equals(Buffer.from(Float32Array.from(scalar.invCholesky).buffer))).toBe(
        true,
      );
    }
  });

  it.each([true, false])('refuses a factor with an infinite diagonal entry as the scalar inverse does (wasm %s)', (wasm) => {
    const acc = createGaussianAccumulator(1, 3);
    acc.count = 3;
    acc.comoment.set([2, 0, 0, Infinity, 0, 2]);
    expect(() => finalizeGaussian(acc, { wasm })).toThrow('invertLowerTriangular: diagonal entry 1 is Infinity; the matrix is singular');
  });

  it('toFloat32Gaussian casts to float32 and keeps the shape', () => {
    const d = 5;
    const p = 2;
    const samples = makeSamples(8, 10, d, p);
    const g = finalizeGaussian(accumulateRange(samples, d, p, 0, 10, [10]));
    const g32 = toFloat32Gaussian(g);
    expect(g32.mean).toBeInstanceOf(Float32Array);
    expect(g32.invCholesky).toBeInstanceOf(Float32Array);
    expect([g32.positions, g32.dim, g32.count]).toEqual([p, d, 10]);
    expectRelClose(g32.mean, g.mean, 1e-6);
    expectRelClose(g32.invCholesky, g.invCholesky, 1e-6);
  });

  it('finalizeGaussianFloat32 gives exactly toFloat32Gaussian(finalizeGaussian(·)), and its errors', () => {
    const d = 9;
    const p = 4;
    const samples = makeSamples(31, 25, d, p, 3);
    const acc = accumulateRange(samples, d, p, 0, 25, [7, 11]);
    const direct = finalizeGaussianFloat32(acc, { regularization: 0.02 });
    const viaFloat64 = toFloat32Gaussian(finalizeGaussian(acc, { regularization: 0.02 }));
    expect(direct.invCholesky).toEqual(viaFloat64.invCholesky);
    expect(direct.mean).toEqual(viaFloat64.mean);
    expect([direct.positions, direct.dim, direct.count]).toEqual([p, d, 25]);
    expect(() => finalizeGaussianFloat32(createGaussianAccumulator(2, 3))).toThrow(/at least 2 samples.*count=0/);
  });

  it("finalizeGaussianInPlace gives finalizeGaussianFloat32 bit for bit in the co-moments' own buffer, and consumes them", () => {
    const d = 13;
    const p = 7;
    const acc = accumulateRange(makeSamples(5, 30, d, p, 2), d, p, 0, 30, [10, 20]);
    const expected = finalizeGaussianFloat32(acc, { regularization: 0.02 });
    const buffer = acc.comoment.buffer;
    const inPlace = finalizeGaussianInPlace(acc, { regularization: 0.02 });
    expect(inPlace.invCholesky).toEqual(expected.invCholesky);
    expect(inPlace.mean).toEqual(expected.mean);
    expect([inPlace.positions, inPlace.dim, inPlace.count]).toEqual([p, d, 30]);
    expect(inPlace.invCholesky.buffer).toBe(buffer);
    expect(acc.comoment.length).toBe(0);
    expect(() => finalizeGaussianInPlace(acc)).toThrow(/comoment has 0 entries/);
  });
});
