import { expect, it } from '@jest/globals';
import { gaussianBlur, resizeBilinear } from '@padim-fleet/padim-core';
import { OnnxWorkerSession } from '../runtime/onnx-worker-session';
import { randomFloats } from '../testing/random-floats';
import { buildAnomalyMapGraph } from './anomaly-map-graph';

it.each([
  [{ height: 64, width: 64 }, 256],
  [{ height: 56, width: 56 }, 224],
  [{ height: 10, width: 10 }, 40],
])('maps %j patch distances to %i px as resizeBilinear + gaussianBlur do', async (grid, side) => {
  const P = grid.height * grid.width;
  const B = 3;
  const distance = randomFloats(B * P, 11, 0, 30);
  const session = await OnnxWorkerSession.create(buildAnomalyMapGraph(grid, side, 4), { threads: 1 });
  try {
    const out = (await session.run({ distance: { data: distance, dims: [B, P] } })).map;
    expect(out.dims).toEqual([B, side * side]);
    const maps = out.data as Float32Array;
    for (let b = 0; b < B; b++) {
      const up = resizeBilinear(distance.subarray(b * P, (b + 1) * P), { c: 1, h: grid.height, w: grid.width }, side, side);
      const expected = gaussianBlur(up, { h: side, w: side }, 4);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(maps[b * side * side + i] - expected[i]));
      expect(worst).toBeLessThan(1e-4);
    }
  } finally {
    await session.release();
  }
});
