/** Fewest rows in a band of the Gram product: a narrower GEMM loses more speed per product than the band saves. */
export const GRAM_BAND_MIN_ROWS = 48;
/** Most bands: beyond four the products saved (5/8 of d² at four, 1/2 at the limit) no longer pay for the smaller GEMMs. */
export const MAX_GRAM_BANDS = 4;

/**
 * The row bands a position's Gram matrix is computed in, as their first rows followed by d: band k is
 * rows [starts[k], starts[k+1]) by columns [starts[k], d), so the bands hold the upper triangle and skip
 * the blocks below the diagonal: 3/4 of the products with two bands, 5/8 with four. At d=100 (two
 * bands) the GEMM took 1.04 ms per image against 1.34 for the whole matrix (groups of 128).
 */
export function gramBands(d: number): number[] {
  const bands = Math.max(1, Math.min(MAX_GRAM_BANDS, Math.floor(d / GRAM_BAND_MIN_ROWS)));
  return Array.from({ length: bands + 1 }, (_, k) => Math.floor((k * d) / bands));
}

/** Floats of one position's banded Gram product (gramBands). */
export function gramBandFloats(d: number): number {
  const starts = gramBands(d);
  let floats = 0;
  for (let k = 0; k + 1 < starts.length; k++) floats += (starts[k + 1] - starts[k]) * (d - starts[k]);
  return floats;
}
