/**
 * Inverse of a lower-triangular full row-major d×d matrix L (entries above the diagonal are
 * ignored). Row i of X = L⁻¹ is (e_i − Σ_{k<i} L[i][k]·X[k]) / L[i][i]; X[k] vanishes past column k,
 * so every update is a contiguous row prefix. Returns `out` (zeros above the diagonal).
 */
export function invertLowerTriangular(l: Float64Array, d: number, out: Float64Array = new Float64Array(d * d)): Float64Array {
  if (out === l) throw new Error('invertLowerTriangular: out must not alias the input');
  if (l.length < d * d || out.length < d * d) {
    throw new RangeError(`invertLowerTriangular: expected ${d * d} entries`);
  }
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let j = 0; j < d; j++) out[ri + j] = 0;
    out[ri + i] = 1;
    for (let k = 0; k < i; k++) {
      const c = l[ri + k];
      if (c === 0) continue;
      const rk = k * d;
      for (let j = 0; j <= k; j++) out[ri + j] -= c * out[rk + j];
    }
    const diag = l[ri + i];
    if (diag === 0 || !Number.isFinite(diag)) {
      throw new RangeError(`invertLowerTriangular: diagonal entry ${i} is ${diag}; the matrix is singular`);
    }
    const inv = 1 / diag;
    for (let j = 0; j <= i; j++) out[ri + j] *= inv;
  }
  return out;
}
