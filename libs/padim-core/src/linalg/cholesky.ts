import { NotPositiveDefiniteError } from './not-positive-definite-error';

/**
 * Cholesky factorisation A = L·Lᵀ of a symmetric positive-definite matrix, in place.
 *
 * `a` is a FULL row-major d×d matrix; only its lower triangle (diagonal included) is read. On
 * return it holds L in the lower triangle and zeros above, and the same array is returned. The
 * row-oriented (Cholesky–Banachiewicz) order keeps every inner product on contiguous row
 * prefixes. Throws NotPositiveDefiniteError naming the first pivot that is not > 0.
 */
export function choleskyInPlace(a: Float64Array, d: number, context?: string): Float64Array {
  if (a.length < d * d) throw new RangeError(`choleskyInPlace: expected ${d * d} entries, got ${a.length}`);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let j = 0; j < i; j++) {
      const rj = j * d;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      a[ri + j] = s / a[rj + j];
    }
    let s = a[ri + i];
    for (let k = 0; k < i; k++) s -= a[ri + k] * a[ri + k];
    if (!(s > 0)) throw new NotPositiveDefiniteError(i, s, context);
    a[ri + i] = Math.sqrt(s);
    for (let j = i + 1; j < d; j++) a[ri + j] = 0;
  }
  return a;
}
