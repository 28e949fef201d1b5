import * as ort from 'onnxruntime-node';
import { randomFloats } from '../testing/random-floats';
import { buildMahalanobisGraph, unpackLowerTriangular } from './mahalanobis-graph';

/** Random packed lower-triangular factors with a dominant positive diagonal, as an inverse Cholesky factor has. */
function randomPackedFactors(P: number, d: number, seed: number): Float32Array {
  const packed = randomFloats((P * d * (d + 1)) / 2, seed, -0.5, 0.5);
  for (let p = 0; p < P; p++) for (let i = 0; i < d; i++) packed[(p * d * (d + 1)) / 2 + (i * (i + 1)) / 2 + i] += 2;
  return packed;
}

/** ‖L⁻¹(x − μ)‖ with explicit loops over the packed factor (f64 sums); embedding [B, d, P]. */
function referenceDistance(x: Float32Array, mean: Float32Array, packed: Float32Array, B: number, d: number, P: number): Float64Array {
  const tri = (d * (d + 1)) / 2;
  const out = new Float64Array(B * P);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      let sum = 0;
      for (let i = 0; i < d; i++) {
        let yi = 0;
        for (let j = 0; j <= i; j++) yi += packed[p * tri + (i * (i + 1)) / 2 + j] * (x[(b * d + j) * P + p] - mean[p * d + j]);
        sum += yi * yi;
      }
      out[b * P + p] = Math.sqrt(sum);
    }
  }
  return out;
}

async function runGraph(session: ort.InferenceSession, x: Float32Array, mean: Float32Array, packed: Float32Array, B: number, d: number, P: number) {
  return session.run({
    embedding: new ort.Tensor('float32', x, [B, d, P]),
    mean: new ort.Tensor('float32', mean, [P, d, 1]),
    inv_cholesky: new ort.Tensor('float32', unpackLowerTriangular(packed, P, d), [P, d, d]),
  });
}

describe('unpackLowerTriangular', () => {
  it('expands packed rows and zeroes the upper triangle', () => {
    // Two 3×3 factors: rows [1], [2 3], [4 5 6] and [7], [8 9], [10 11 12].
    const full = unpackLowerTriangular(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 2, 3);
    expect(Array.from(full)).toEqual([1, 0, 0, 2, 3, 0, 4, 5, 6, 7, 0, 0, 8, 9, 0, 10, 11, 12]);
  });

  it('rejects a packed array of the wrong length', () => {
    expect(() => unpackLowerTriangular(new Float32Array(11), 2, 3)).toThrow(/11 values, expected P·d\(d\+1\)\/2 = 2·6 = 12/);
  });
});

describe('buildMahalanobisGraph', () => {
  it.each([
    [1, 1, 1],
    [3, 5, 7],
    [2, 12, 33],
  ])('matches explicit loops for B=%i, d=%i, P=%i within 1e-3 relative', async (B, d, P) => {
    const x = randomFloats(B * d * P, B * 1000 + d, -3, 3);
    const mean = randomFloats(P * d, P);
    const packed = randomPackedFactors(P, d, d);
    const session = await ort.InferenceSession.create(buildMahalanobisGraph(d));
    const out = await runGraph(session, x, mean, packed, B, d, P);
    expect(out.distance.dims).toEqual([B, P]);
    const expected = referenceDistance(x, mean, packed, B, d, P);
    const got = out.distance.data as Float32Array;
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThanOrEqual(1e-3 * Math.max(expected[i], 1e-3));
  });

  it('gives 0 at the mean', async () => {
    const d = 4;
    const P = 3;
    const mean = randomFloats(P * d, 9);
    const x = new Float32Array(d * P);
    for (let p = 0; p < P; p++) for (let j = 0; j < d; j++) x[j * P + p] = mean[p * d + j];
    const out = await runGraph(await ort.InferenceSession.create(buildMahalanobisGraph(d)), x, mean, randomPackedFactors(P, d, 4), 1, d, P);
    expect(Array.from(out.distance.data as Float32Array)).toEqual([0, 0, 0]);
  });
});
