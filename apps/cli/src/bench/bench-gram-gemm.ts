import { createGramSession } from '@padim-fleet/inference';
import { gramBandFloats, gramBlockPositions } from '@padim-fleet/padim-core';

export interface GramGemmRate {
  /** Images per group: the GEMM's inner dimension. */
  group: number;
  /** Wall ms per image of the batched MatMul alone over all positions. */
  msPerImage: number;
  /** Its arithmetic rate: 2·P·B flops per float of the banded product (gramBandFloats) per group. */
  gflops: number;
}

/**
 * The Gram path's batched MatMul alone (its row bands of [d, B]·[B, d] per position, in the trainer's
 * blocks of positions) for each group size B, alternating over `repeats` rounds so that all see the same load:
 * the median ms per image of each. The inputs are random centred values; what is timed is onnxruntime.
 */
export async function benchGramGemm({ dim = 100, positions = 4096, groups = [64, 128, 256], repeats = 3 } = {}): Promise<GramGemmRate[]> {
  const session = await createGramSession(dim);
  try {
    const block = gramBlockPositions(dim, positions);
    const gram = new Float32Array(block * gramBandFloats(dim));
    const inputs = groups.map((B) => {
      const x = new Float32Array(block * dim * B);
      let state = 12345 + B;
      for (let i = 0; i < x.length; i++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        x[i] = state / 4294967296 - 0.5;
      }
      return x;
    });
    const runGroup = async (i: number) => {
      for (let p0 = 0; p0 < positions; p0 += block) {
        const pb = Math.min(block, positions - p0);
        await session.gram(inputs[i].subarray(0, pb * dim * groups[i]), pb, dim, groups[i], gram.subarray(0, pb * gramBandFloats(dim)));
      }
    };
    // One warm-up each, then the rounds.
    for (let i = 0; i < groups.length; i++) await runGroup(i);
    const times: number[][] = groups.map(() => []);
    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < groups.length; i++) {
        const t = performance.now();
        await runGroup(i);
        times[i].push((performance.now() - t) / groups[i]);
      }
    }
    return groups.map((group, i) => {
      const msPerImage = [...times[i]].sort((a, b) => a - b)[Math.floor(repeats / 2)];
      return { group, msPerImage, gflops: (2 * positions * gramBandFloats(dim)) / (msPerImage * 1e6) };
    });
  } finally {
    await session.release();
  }
}
