/** Images above this many pixels are refused before decoding (decompression bombs). */
export const DEFAULT_PIXEL_LIMIT = 100_000_000;
