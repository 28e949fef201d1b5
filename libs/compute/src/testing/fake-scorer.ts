import type { PadimScorer } from '@padim-fleet/inference';
import { TORCHVISION_NORMALIZATION } from '@padim-fleet/padim-core';

/** The side of the fake model's input and maps. */
export const FAKE_SCORER_SIDE = 16;
const SIDE = FAKE_SCORER_SIDE;
const GRID = 4;
const PEAK = 5; // grid cell (1, 1): map pixels x, y in [4, 8)

/**
 * Stands in for a model: an image's score is its normalised red level, found at one grid cell. Enough for
 * scoreImages (decoding, batching, pipelining) to run for real without a backbone.
 */
export function fakeScorer(): PadimScorer {
  const P = GRID * GRID;
  return {
    manifest: {
      category: 'grey',
      input: { size: SIDE, crop: null },
      backbone: { normalization: TORCHVISION_NORMALIZATION },
      thresholds: { image: 0.5, pixel: 0.5, min: -2.2, max: 2.3, rule: 'holdout-mean-3std', sampleCount: 10 },
    },
    side: SIDE,
    positions: P,
    async patchDistances(tensor: Float32Array, n: number) {
      const out = new Float32Array(n * P);
      for (let i = 0; i < n; i++) {
        const red = tensor[i * 3 * SIDE * SIDE];
        for (let p = 0; p < P; p++) out[i * P + p] = p === PEAK ? red : red - 1;
      }
      return out;
    },
    async anomalyMaps(distances: Float32Array, n: number) {
      const maps = new Float32Array(n * SIDE * SIDE);
      const cell = SIDE / GRID;
      for (let i = 0; i < n; i++) {
        for (let y = 0; y < SIDE; y++)
          for (let x = 0; x < SIDE; x++) maps[i * SIDE * SIDE + y * SIDE + x] = distances[i * P + Math.floor(y / cell) * GRID + Math.floor(x / cell)];
      }
      return maps;
    },
  } as unknown as PadimScorer;
}
