export interface ThinQr {
  /** m×n, row-major, orthonormal columns. */
  q: Float64Array;
  /** n×n, row-major, upper triangular with a non-negative diagonal. */
  r: Float64Array;
}

/**
 * Thin QR of a row-major m×n matrix (m >= n) by Householder reflections: A = Q·R.
 *
 * Signs are normalised so that diag(R) >= 0, which makes the factorisation unique when A has full
 * column rank. Works on a column-major copy so each reflection touches contiguous memory.
 */
export function qr(a: ArrayLike<number>, m: number, n: number): ThinQr {
  if (!Number.isInteger(m) || !Number.isInteger(n) || n < 1 || m < n) {
    throw new RangeError(`qr: need integers m >= n >= 1, got m=${m}, n=${n}`);
  }
  if (a.length < m * n) throw new RangeError(`qr: expected ${m * n} entries, got ${a.length}`);

  const w = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) w[j * m + i] = a[i * n + j];

  const diag = new Float64Array(n);
  const beta = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const ck = k * m;
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += w[ck + i] * w[ck + i];
    const norm = Math.sqrt(norm2);
    if (norm === 0) continue;
    const x0 = w[ck + k];
    // Reflect onto -sign(x0)·‖x‖·e1 so that v0 = x0 - alpha never cancels.
    const alpha = x0 >= 0 ? -norm : norm;
    w[ck + k] = x0 - alpha;
    const vv = norm2 - x0 * x0 + w[ck + k] * w[ck + k];
    const b = 2 / vv;
    diag[k] = alpha;
    beta[k] = b;
    for (let j = k + 1; j < n; j++) {
      const cj = j * m;
      let s = 0;
      for (let i = k; i < m; i++) s += w[ck + i] * w[cj + i];
      s *= b;
      for (let i = k; i < m; i++) w[cj + i] -= s * w[ck + i];
    }
  }

  const r = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    r[k * n + k] = diag[k];
    for (let j = k + 1; j < n; j++) r[k * n + j] = w[j * m + k];
  }

  // Q = H_0·H_1···H_{n-1}·[I_n; 0], applied right to left; H_k leaves columns j < k untouched.
  const qc = new Float64Array(m * n);
  for (let j = 0; j < n; j++) qc[j * m + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const b = beta[k];
    if (b === 0) continue;
    const ck = k * m;
    for (let j = k; j < n; j++) {
      const cj = j * m;
      let s = 0;
      for (let i = k; i < m; i++) s += w[ck + i] * qc[cj + i];
      s *= b;
      for (let i = k; i < m; i++) qc[cj + i] -= s * w[ck + i];
    }
  }

  for (let k = 0; k < n; k++) {
    if (r[k * n + k] >= 0) continue;
    for (let j = k; j < n; j++) r[k * n + j] = -r[k * n + j];
    for (let i = 0; i < m; i++) qc[k * m + i] = -qc[k * m + i];
  }

  const q = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) q[i * n + j] = qc[j * m + i];
  return { q, r };
}
