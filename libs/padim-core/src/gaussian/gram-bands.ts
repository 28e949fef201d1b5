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

/** One row band of a block's Gram product: rows [first, first + rows) by columns [first, d), `width` = d − first wide. */
export interface GramBand {
  first: number;
  rows: number;
  width: number;
  /** Where the band starts in the block's output, in floats: the bands lie one after the other, each [positions][rows][width]. */
  offset: number;
  /** Floats of the band for the whole block: positions · rows · width. */
  floats: number;
}

/** The bands of a block of `positions` positions' banded Gram product, in the order BatchedGram writes them. */
export function gramBandLayout(d: number, positions: number): GramBand[] {
  const starts = gramBands(d);
  const bands: GramBand[] = [];
  for (let k = 0, offset = 0; k + 1 < starts.length; k++) {
    const first = starts[k];
    const rows = starts[k + 1] - first;
    const width = d - first;
    const floats = positions * rows * width;
    bands.push({ first, rows, width, offset, floats });
    offset += floats;
  }
  return bands;
}
