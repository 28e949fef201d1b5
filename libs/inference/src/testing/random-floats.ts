import { mulberry32 } from '@padim-fleet/padim-core';

/** Reproducible test data: `n` floats uniform in [lo, hi) from a seeded mulberry32 stream. */
export function randomFloats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}
