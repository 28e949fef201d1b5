import { accumulateEmbeddings, createGaussianAccumulator, finalizeGaussian, toFloat32Gaussian } from '../gaussian';
import { choleskyInPlace, invertLowerTriangular, packLower, triangleSize } from '../linalg';
import { PythonRandom } from '../random';
import { mahalanobisMap, mahalanobisMapBatch } from './mahalanobis-map';

/** Gauss–Jordan inverse with partial pivoting, independent of the Cholesky path. */
function inverse(a: Float64Array, d: number): Float64Array {
  const m = a.slice();
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r * d + col]) > Math.abs(m[piv * d + col])) piv = r;
    for (let c = 0; c < d; c++) {
      [m[col * d + c], m[piv * d + c]] = [m[piv * d + c], m[col * d + c]];
      [inv[col * d + c], inv[piv * d + c]] = [inv[piv * d + c], inv[col * d + c]];
    }
    const s = 1 / m[col * d + col];
    for (let c = 0; c < d; c++) {
      m[col * d + c] *= s;
      inv[col * d + c] *= s;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = m[r * d + col];
      for (let c = 0; c < d; c++) {
        m[r * d + c] -= f * m[col * d + c];
        inv[r * d + c] -= f * inv[col * d + c];
      }
    }
  }
  return inv;
}

/** Random SPD covariances per position, their packed L⁻¹, and their explicit inverses. */
function randomModel(seed: number, d: number, p: number) {
  const rng = new PythonRandom(seed);
  const T = triangleSize(d);
  const mean = Float64Array.from({ length: p * d }, () => rng.gauss() * 2);
  const invCholesky = new Float64Array(p * T);
  const precision: Float64Array[] = [];
  for (let q = 0; q < p; q++) {
    const b = Float64Array.from({ length: d * d }, () => rng.gauss());
    const sigma = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let s = i === j ? 0.5 : 0;
        for (let t = 0; t < d; t++) s += b[i * d + t] * b[j * d + t];
        sigma[i * d + j] = s;
      }
    precision.push(inverse(sigma, d));
    packLower(invertLowerTriangular(choleskyInPlace(sigma.slice(), d), d), d, invCholesky, q * T);
  }
  return { mean, invCholesky, precision, rng };
}

function expectRel(actual: number, expected: number, rel: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(Math.abs(expected), 1e-12));
}

describe('mahalanobisMap', () => {
  it('hand-checkable: Σ = diag(4, 9) and x − μ = (2, 3) give √2', () => {
    // L⁻¹ = diag(1/2, 1/3), packed lower [1/2, 0, 1/3]; ‖(2/2, 3/3)‖ = √2.
    const out = mahalanobisMap(Float32Array.from([3, 4]), Float64Array.from([1, 1]), Float64Array.from([0.5, 0, 1 / 3]), 2, 1);
    expect(out[0]).toBeCloseTo(Math.SQRT2, 6);
  });

  it('is 0 at the mean', () => {
    const d = 6;
    const p = 5;
    const { mean, invCholesky } = randomModel(1, d, p);
    const meanF32 = Float32Array.from(mean);
    const embedding = new Float32Array(d * p);
    for (let q = 0; q < p; q++) for (let c = 0; c < d; c++) embedding[c * p + q] = meanF32[q * d + c];
    expect(Array.from(mahalanobisMap(embedding, meanF32, invCholesky, d, p))).toEqual(new Array(p).fill(0));
  });

  it('identity covariance gives the Euclidean distance', () => {
    const d = 7;
    const p = 20;
    const T = triangleSize(d);
    const identity = new Float64Array(p * T);
    for (let q = 0; q < p; q++) for (let i = 0; i < d; i++) identity[q * T + (i * (i + 1)) / 2 + i] = 1;
    const rng = new PythonRandom(2);
    const mean = Float64Array.from({ length: p * d }, () => rng.gauss());
    const embedding = Float32Array.from({ length: d * p }, () => rng.gauss());
    const out = mahalanobisMap(embedding, mean, identity, d, p);
    for (let q = 0; q < p; q++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (embedding[c * p + q] - mean[q * d + c]) ** 2;
      expectRel(out[q], Math.sqrt(s), 1e-6);
    }
  });

  it('agrees with √((x−μ)ᵀ Σ⁻¹ (x−μ)) from an explicit inverse', () => {
    const d = 9;
    const p = 37;
    const { mean, invCholesky, precision, rng } = randomModel(3, d, p);
    const embedding = Float32Array.from({ length: d * p }, () => rng.gauss() * 3);
    const out = mahalanobisMap(embedding, mean, invCholesky, d, p);
    for (let q = 0; q < p; q++) {
      const x = Array.from({ length: d }, (_, c) => embedding[c * p + q] - mean[q * d + c]);
      let s = 0;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s += x[i] * precision[q][i * d + j] * x[j];
      // The output is float32; the sum itself is float64.
      expectRel(out[q], Math.sqrt(s), 1e-6);
    }
  });

  it('batched map equals the per-image map, and float32 models agree within 1e-3', () => {
    const d = 5;
    const p = 33;
    const b = 6;
    const { mean, invCholesky, rng } = randomModel(4, d, p);
    const batch = Float32Array.from({ length: b * d * p }, () => rng.gauss() * 2);
    const batched = mahalanobisMapBatch(batch, mean, invCholesky, d, p, b);
    expect(batched).toHaveLength(b * p);
    for (let i = 0; i < b; i++) {
      const single = mahalanobisMap(batch.subarray(i * d * p, (i + 1) * d * p), mean, invCholesky, d, p);
      expect(Array.from(batched.subarray(i * p, (i + 1) * p))).toEqual(Array.from(single));
    }
    const f32 = mahalanobisMapBatch(batch, Float32Array.from(mean), Float32Array.from(invCholesky), d, p, b);
    for (let i = 0; i < f32.length; i++) expectRel(f32[i], batched[i], 1e-3);
  });

  it('end to end: a finalised Gaussian scores a sample as the explicit covariance (+0.01·I) does', () => {
    const d = 4;
    const p = 3;
    const n = 25;
    const rng = new PythonRandom(5);
    const samples = Float32Array.from({ length: n * d * p }, () => rng.gauss());
    const acc = createGaussianAccumulator(p, d);
    accumulateEmbeddings(acc, samples, n);
    const g = toFloat32Gaussian(finalizeGaussian(acc));
    const probe = Float32Array.from({ length: d * p }, () => rng.gauss() * 2);
    const out = mahalanobisMap(probe, g.mean, g.invCholesky, d, p);
    for (let q = 0; q < p; q++) {
      const mu = Array.from({ length: d }, (_, c) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += samples[i * d * p + c * p + q];
        return s / n;
      });
      const sigma = new Float64Array(d * d);
      for (let a = 0; a < d; a++)
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += (samples[i * d * p + a * p + q] - mu[a]) * (samples[i * d * p + c * p + q] - mu[c]);
          sigma[a * d + c] = s / (n - 1) + (a === c ? 0.01 : 0);
        }
      const prec = inverse(sigma, d);
      const x = Array.from({ length: d }, (_, c) => probe[c * p + q] - mu[c]);
      let s = 0;
      for (let a = 0; a < d; a++) for (let c = 0; c < d; c++) s += x[a] * prec[a * d + c] * x[c];
      expectRel(out[q], Math.sqrt(s), 1e-3);
    }
  });

  it('rejects mismatched shapes', () => {
    const mean = new Float64Array(6);
    const inv = new Float64Array(9);
    expect(() => mahalanobisMap(new Float32Array(5), mean, inv, 2, 3)).toThrow(/embedding has 5 values, expected B\*d\*P = 1\*2\*3 = 6/);
    expect(() => mahalanobisMap(new Float32Array(6), new Float64Array(5), inv, 2, 3)).toThrow(/mean has 5 values, expected P\*d = 6/);
    expect(() => mahalanobisMap(new Float32Array(6), mean, new Float64Array(8), 2, 3)).toThrow(/invCholesky has 8 values/);
    expect(() => mahalanobisMapBatch(new Float32Array(6), mean, inv, 2, 3, 0)).toThrow(/batchSize must be a positive integer/);
    expect(() => mahalanobisMap(new Float32Array(6), mean, inv, 2, 3, new Float32Array(2))).toThrow(/out has 2 values/);
  });
});
