/** Images above this many pixels are refused before decoding (decompression bombs). */
export const DEFAULT_PIXEL_LIMIT = 100_000_000;

/**
 * Images above this many pixels are never held whole at full resolution, whichever path decodes them:
 * plain PNGs are inflated, unfiltered and resized a band of rows at a time (to the same bytes), other
 * formats are resized by sharp as it decodes. 40 MP of RGB is 120 MB, and a whole decode holds several
 * copies of it.
 */
export const FULL_DECODE_MAX_PIXELS = 40_000_000;
