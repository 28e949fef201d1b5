import { mulberry32 } from '../random';
import { accumulateEmbeddingsReference } from './accumulate-embeddings.reference';
import { accumulateGroupByGram, centredBlockPositions, gramBlockPositions, type BatchedGram } from './accumulate-by-gram';
import { createGaussianAccumulator } from './gaussian-accumulator';

/** X·Xᵀ per position of [positions, d, B], summed in float64 then rounded to float32 as a GEMM would return it. */
const naiveGram: BatchedGram = async (centred, positions, d, B, out) => {
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let b = 0; b < B; b++) s += centred[(p * d + i) * B + b] * centred[(p * d + j) * B + b];
        out[(p * d + i) * d + j] = s;
      }
    }
  }
};

function randomBatch(n: number, d: number, P: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  // Offset far from zero so that centring matters.
  return Float32Array.from({ length: n * d * P }, () => 40 + 3 * next());
}

/** Worst |a − b| of packed co-moments on the scale of their diagonal, √(b_ii·b_jj): near-zero off-diagonal entries do not inflate it. */
function worstScaledError(a: Float64Array, b: Float64Array, P: number, d: number): number {
  const T = (d * (d + 1)) / 2;
  let worst = 0;
  for (let p = 0; p < P; p++) {
    const diagonal = (i: number) => b[p * T + i * d - (i * (i - 1)) / 2];
    let k = p * T;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++, k++) worst = Math.max(worst, Math.abs(a[k] - b[k]) / Math.sqrt(diagonal(i) * diagonal(j)));
    }
  }
  return worst;
}

function worstRelative(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-6, Math.abs(b[i])));
  return worst;
}

describe('accumulateGroupByGram', () => {
  it.each([
    [7, 5, 3, 2],
    [13, 9, 5, 5],
    [13, 9, 13, 4],
    [10, 1, 1, 1],
  ])(
    'accumulates several groups as the per-sample float64 reference does (P=%i, d=%i, blocks of %i and GEMMs of %i positions)',
    async (P, d, centred, gram) => {
      const groups = [
        [
          { data: randomBatch(3, d, P, 1), n: 3 },
          { data: randomBatch(2, d, P, 2), n: 2 },
        ],
        [{ data: randomBatch(1, d, P, 3), n: 1 }],
        [{ data: randomBatch(4, d, P, 4), n: 4 }],
      ];
      const byGram = createGaussianAccumulator(P, d);
      const reference = createGaussianAccumulator(P, d);
      for (const group of groups) {
        await accumulateGroupByGram(byGram, group, naiveGram, { centred, gram });
        for (const b of group) accumulateEmbeddingsReference(reference, b.data, b.n);
      }
      expect(byGram.count).toBe(10);
      expect(worstRelative(byGram.mean, reference.mean)).toBeLessThan(1e-12);
      // Float32 rounding of the centred values and of the Gram; the reference sums float64 throughout.
      expect(worstScaledError(byGram.comoment, reference.comoment, P, d)).toBeLessThan(1e-6);
    },
  );

  it('leaves the accumulator as it was for an empty group', async () => {
    const acc = createGaussianAccumulator(4, 3);
    await accumulateGroupByGram(acc, [], naiveGram);
    expect(acc.count).toBe(0);
    expect(Array.from(acc.comoment).every((v) => v === 0)).toBe(true);
  });

  it('names the batch whose size does not match the accumulator', async () => {
    const acc = createGaussianAccumulator(4, 3);
    await expect(accumulateGroupByGram(acc, [{ data: new Float32Array(5), n: 1 }], naiveGram)).rejects.toThrow(
      /accumulateGroupByGram: batch has 5 values for n=1, expected n\*dim\*positions = 1\*3\*4 = 12/,
    );
  });

  it('bounds a GEMM block to 1 MiB of output and a centred block to 8 MiB, whatever d is', () => {
    expect(gramBlockPositions(100, 4096)).toBe(26);
    expect(gramBlockPositions(550, 4096)).toBe(1);
    expect(gramBlockPositions(4000, 4096)).toBe(1);
    expect(gramBlockPositions(10, 7)).toBe(7);
    expect(centredBlockPositions(100, 64, 4096)).toBe(320);
    expect(centredBlockPositions(550, 64, 4096)).toBe(48);
    expect(centredBlockPositions(550, 1000, 4096)).toBe(3);
    expect(centredBlockPositions(10, 2, 7)).toBe(7);
  });
});
