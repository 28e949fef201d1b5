/**
 * Packed triangular storage shared across padim-core.
 * - Symmetric matrices: packed UPPER triangle, row-major; (i, j) with i <= j at i*d - i*(i-1)/2 + (j - i).
 * - Lower-triangular factors: packed LOWER triangle, row-major; (i, j) with j <= i at i*(i+1)/2 + j.
 * Both hold T = d*(d+1)/2 entries.
 */

export function triangleSize(d: number): number {
  return (d * (d + 1)) / 2;
}

/** Index of (i, j), i <= j, in a packed upper triangle of a d×d matrix. */
export function packedUpperIndex(i: number, j: number, d: number): number {
  return i * d - (i * (i - 1)) / 2 + (j - i);
}

/** Index of (i, j), j <= i, in a packed lower triangle. */
export function packedLowerIndex(i: number, j: number): number {
  return (i * (i + 1)) / 2 + j;
}

/** Expands a packed upper triangle (at `offset` in `packed`) into a full symmetric row-major d×d matrix. */
export function unpackSymmetricUpper(packed: ArrayLike<number>, d: number, out: Float64Array = new Float64Array(d * d), offset = 0): Float64Array {
  let k = offset;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = packed[k++];
      out[i * d + j] = v;
      out[j * d + i] = v;
    }
  }
  return out;
}

/** Packs the upper triangle of a full row-major d×d matrix. */
export function packSymmetricUpper(full: ArrayLike<number>, d: number, out: Float64Array = new Float64Array(triangleSize(d)), offset = 0): Float64Array {
  let k = offset;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) out[k++] = full[i * d + j];
  }
  return out;
}

/** Packs the lower triangle of a full row-major d×d matrix. */
export function packLower(full: ArrayLike<number>, d: number, out: Float64Array = new Float64Array(triangleSize(d)), offset = 0): Float64Array {
  let k = offset;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) out[k++] = full[i * d + j];
  }
  return out;
}

/** Expands a packed lower triangle into a full row-major d×d matrix with zeros above the diagonal. */
export function unpackLower(packed: ArrayLike<number>, d: number, out: Float64Array = new Float64Array(d * d), offset = 0): Float64Array {
  let k = offset;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) out[i * d + j] = j <= i ? packed[k++] : 0;
  }
  return out;
}
