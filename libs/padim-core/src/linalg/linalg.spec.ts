import { PythonRandom } from '../random';
import {
  choleskyInPlace,
  invertLowerTriangular,
  NotPositiveDefiniteError,
  packedLowerIndex,
  packedUpperIndex,
  packLower,
  packSymmetricUpper,
  qr,
  triangleSize,
  unpackLower,
  unpackSymmetricUpper,
} from './index';

function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
      c[i * n + j] = s;
    }
  return c;
}

function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

function identity(d: number): Float64Array {
  const e = new Float64Array(d * d);
  for (let i = 0; i < d; i++) e[i * d + i] = 1;
  return e;
}

function randomMatrix(rng: PythonRandom, m: number, n: number): Float64Array {
  return Float64Array.from({ length: m * n }, () => rng.gauss());
}

/** B·Bᵀ + d·I: symmetric positive definite and reasonably conditioned. */
function randomSpd(rng: PythonRandom, d: number): Float64Array {
  const b = randomMatrix(rng, d, d);
  const a = matmul(b, transpose(b, d, d), d, d, d);
  for (let i = 0; i < d; i++) a[i * d + i] += d;
  return a;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * scale)) {
      throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]} (tol ${tol * scale})`);
    }
  }
}

describe('packed storage', () => {
  it('index formulas enumerate the triangles in row-major order', () => {
    const d = 7;
    let k = 0;
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) expect(packedUpperIndex(i, j, d)).toBe(k++);
    expect(k).toBe(triangleSize(d));
    k = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) expect(packedLowerIndex(i, j)).toBe(k++);
  });

  it('pack/unpack round trips', () => {
    const d = 5;
    const rng = new PythonRandom(1);
    const s = randomSpd(rng, d);
    expect(Array.from(unpackSymmetricUpper(packSymmetricUpper(s, d), d))).toEqual(Array.from(s));
    const l = choleskyInPlace(s.slice(), d);
    expect(Array.from(unpackLower(packLower(l, d), d))).toEqual(Array.from(l));
  });
});

/** Row-at-a-time Cholesky–Banachiewicz: the reference choleskyInPlace's four-row blocks must match bit for bit. */
function choleskyOneRowAtATime(a: Float64Array, d: number): Float64Array {
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = s / a[j * d + j];
    }
    let s = a[i * d + i];
    for (let k = 0; k < i; k++) s -= a[i * d + k] * a[i * d + k];
    a[i * d + i] = Math.sqrt(s);
    for (let j = i + 1; j < d; j++) a[i * d + j] = 0;
  }
  return a;
}

/** Row-at-a-time forward substitution: the reference for invertLowerTriangular's four-row blocks. */
function inverseOneRowAtATime(l: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    out[i * d + i] = 1;
    for (let k = 0; k < i; k++) for (let j = 0; j <= k; j++) out[i * d + j] -= l[i * d + k] * out[k * d + j];
    for (let j = 0; j <= i; j++) out[i * d + j] *= 1 / l[i * d + i];
  }
  return out;
}

describe('four-row blocks', () => {
  it.each([1, 3, 4, 5, 7, 8, 9, 13, 41, 64, 101])('give the row-at-a-time Cholesky factor and inverse bit for bit, d=%i', (d) => {
    const a = randomSpd(new PythonRandom(500 + d), d);
    const l = choleskyInPlace(a.slice(), d);
    expect(Buffer.from(l.buffer).equals(Buffer.from(choleskyOneRowAtATime(a.slice(), d).buffer))).toBe(true);
    expect(Buffer.from(invertLowerTriangular(l, d).buffer).equals(Buffer.from(inverseOneRowAtATime(l, d).buffer))).toBe(true);
  });
});

describe('choleskyInPlace', () => {
  it('matches the MATLAB chol documentation example', () => {
    // https://www.mathworks.com/help/matlab/ref/chol.html : A = [1 0 1; 0 2 0; 1 0 3],
    // R = chol(A) = [1 0 1; 0 1.4142 0; 0 0 1.4142], and L = Rᵀ.
    const a = Float64Array.from([1, 0, 1, 0, 2, 0, 1, 0, 3]);
    const l = choleskyInPlace(a, 3);
    expect(l).toBe(a);
    expectClose(l, [1, 0, 0, 0, Math.SQRT2, 0, 1, 0, Math.SQRT2], 1e-15);
    expectClose(transpose(l, 3, 3), [1, 0, 1, 0, 1.4142, 0, 0, 0, 1.4142], 1e-4);
  });

  it.each([1, 2, 5, 40, 100])('L·Lᵀ = A for a random SPD matrix, d=%i', (d) => {
    const a = randomSpd(new PythonRandom(d), d);
    const l = choleskyInPlace(a.slice(), d);
    for (let i = 0; i < d; i++) {
      expect(l[i * d + i]).toBeGreaterThan(0);
      for (let j = i + 1; j < d; j++) expect(l[i * d + j]).toBe(0);
    }
    expectClose(matmul(l, transpose(l, d, d), d, d, d), a);
  });

  it('only reads the lower triangle', () => {
    const d = 6;
    const a = randomSpd(new PythonRandom(3), d);
    const garbage = a.slice();
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) garbage[i * d + j] = 1e6;
    expect(Array.from(choleskyInPlace(garbage, d))).toEqual(Array.from(choleskyInPlace(a.slice(), d)));
  });

  it('throws NotPositiveDefiniteError naming the failing pivot', () => {
    // [[1, 2], [2, 1]] has eigenvalues 3 and -1; the second pivot is 1 - 2² = -3.
    const indefinite = Float64Array.from([1, 2, 2, 1]);
    let caught: unknown;
    try {
      choleskyInPlace(indefinite, 2, 'position 17');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NotPositiveDefiniteError);
    const err = caught as NotPositiveDefiniteError;
    expect(err.pivot).toBe(1);
    expect(err.pivotValue).toBe(-3);
    expect(err.message).toMatch(/position 17.*pivot 1 is -3/);

    expect(() => choleskyInPlace(Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 0]), 3)).toThrow(/pivot 2 is 0/);
    expect(() => choleskyInPlace(Float64Array.from([NaN]), 1)).toThrow(NotPositiveDefiniteError);
  });
});

describe('invertLowerTriangular', () => {
  it('inverts a hand-checkable 2×2', () => {
    // [[2, 0], [1, 4]]⁻¹ = [[1/2, 0], [-1/8, 1/4]]
    expect(Array.from(invertLowerTriangular(Float64Array.from([2, 0, 1, 4]), 2))).toEqual([0.5, 0, -0.125, 0.25]);
  });

  it.each([1, 3, 40, 100])('L⁻¹·L = I and L·L⁻¹ = I for a Cholesky factor, d=%i', (d) => {
    const l = choleskyInPlace(randomSpd(new PythonRandom(100 + d), d), d);
    const inv = invertLowerTriangular(l, d);
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) expect(inv[i * d + j]).toBe(0);
    expectClose(matmul(inv, l, d, d, d), identity(d));
    expectClose(matmul(l, inv, d, d, d), identity(d));
  });

  it('rejects a singular factor and aliasing', () => {
    expect(() => invertLowerTriangular(Float64Array.from([1, 0, 1, 0]), 2)).toThrow(/diagonal entry 1 is 0/);
    const l = Float64Array.from([1]);
    expect(() => invertLowerTriangular(l, 1, l)).toThrow(/alias/);
  });
});

describe('qr', () => {
  it('matches the worked example on Wikipedia', () => {
    // https://en.wikipedia.org/wiki/QR_decomposition#Using_Householder_reflections (worked example)
    const a = [12, -51, 4, 6, 167, -68, -4, 24, -41];
    const { q, r } = qr(a, 3, 3);
    expectClose(q, [6 / 7, -69 / 175, -58 / 175, 3 / 7, 158 / 175, 6 / 175, -2 / 7, 6 / 35, -33 / 35], 1e-12);
    expectClose(r, [14, 21, -14, 0, 175, -70, 0, 0, 35], 1e-12);
  });

  it('normalises signs so that diag(R) >= 0', () => {
    const { q, r } = qr([-3, -4], 2, 1);
    expectClose(q, [-0.6, -0.8], 1e-15);
    expect(r[0]).toBeCloseTo(5, 14);
  });

  it.each([
    [5, 5],
    [50, 10],
    [448, 100],
  ])('Q·R = A, QᵀQ = I, R upper with non-negative diagonal (m=%i, n=%i)', (m, n) => {
    const a = randomMatrix(new PythonRandom(m * n), m, n);
    const { q, r } = qr(a, m, n);
    expectClose(matmul(q, r, m, n, n), a);
    expectClose(matmul(transpose(q, m, n), q, n, m, n), identity(n));
    for (let i = 0; i < n; i++) {
      expect(r[i * n + i]).toBeGreaterThanOrEqual(0);
      for (let j = 0; j < i; j++) expect(r[i * n + j]).toBe(0);
    }
  });

  it('handles a rank-deficient (zero) column and still returns orthonormal Q', () => {
    const m = 6;
    const n = 3;
    const a = randomMatrix(new PythonRandom(8), m, n);
    for (let i = 0; i < m; i++) a[i * n + 1] = 0;
    const { q, r } = qr(a, m, n);
    expect(r[1 * n + 1]).toBe(0);
    expectClose(matmul(q, r, m, n, n), a);
    expectClose(matmul(transpose(q, m, n), q, n, m, n), identity(n));
  });

  it('rejects wide or empty shapes', () => {
    expect(() => qr([1, 2], 1, 2)).toThrow(/m >= n >= 1/);
    expect(() => qr([1], 2, 1)).toThrow(/expected 2 entries/);
  });
});
