import { mulberry32 } from '../random';
import { accumulateEmbeddingsReference } from './accumulate-embeddings.reference';
import { accumulateGroupByGram, centredBlockPositions, gramBlockPositions, GramGroup, mergeGroupStatistics, type BatchedGram } from './accumulate-by-gram';
import { gramBandFloats, gramBandLayout, gramBands } from './gram-bands';
import { createGaussianAccumulator } from './gaussian-accumulator';
import { gramCentreKernel } from './gram-centre-kernel';

/** The row bands (gramBands) of X·Xᵀ per position of [positions, d, B], summed in float64 then rounded to float32 as a GEMM would return them. */
const naiveGram: BatchedGram = async (centred, positions, d, B, out) => {
  const starts = gramBands(d);
  let at = 0;
  for (let k = 0; k + 1 < starts.length; k++) {
    for (let p = 0; p < positions; p++) {
      for (let i = starts[k]; i < starts[k + 1]; i++) {
        for (let j = starts[k]; j < d; j++) {
          let s = 0;
          for (let b = 0; b < B; b++) s += centred[(p * d + i) * B + b] * centred[(p * d + j) * B + b];
          out[at++] = s;
        }
      }
    }
  }
  expect(at).toBe(positions * gramBandFloats(d));
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
    [7, 5, 3, 2, true],
    [13, 9, 5, 5, true],
    [13, 9, 13, 4, true],
    [10, 1, 1, 1, true],
    [13, 9, 5, 5, false],
    [10, 1, 1, 1, false],
    // Two and four row bands.
    [5, 100, 3, 2, true],
    [3, 203, 3, 2, true],
  ])(
    'accumulates several groups as the per-sample float64 reference does (P=%i, d=%i, blocks of %i and GEMMs of %i positions, wasm %s)',
    async (P, d, centred, gram, wasm) => {
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
        await accumulateGroupByGram(byGram, group, naiveGram, { blockPositions: { centred, gram }, wasm });
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

  it('centres and merges in the wasm kernel to the same bytes as the scalar twin, for groups of any size, block, grid and bands, added in batches of any size', async () => {
    for (const [P, d, B, block] of [
      [4096 % 997, 7, 37, 13],
      [101, 3, 4, 101],
      [64, 16, 9, 16],
      [5, 2, 1, 2],
      // Two and four row bands, with odd rows.
      [5, 101, 9, 2],
      [3, 203, 6, 3],
    ]) {
      const seen: { wasm: Float32Array[]; scalar: Float32Array[] } = { wasm: [], scalar: [] };
      const recording =
        (into: Float32Array[]): BatchedGram =>
        async (centred, positions, dd, Bs, out) => {
          into.push(centred.slice());
          await naiveGram(centred, positions, dd, Bs, out);
        };
      const data = randomBatch(B, d, P, 7 + B);
      const results = [];
      for (const wasm of [true, false]) {
        const group = new GramGroup(P, d, B, { blockPositions: { centred: block, gram: block }, wasm });
        expect(group.centring).toBe(wasm ? 'wasm' : 'scalar');
        // The wasm kernel sums each batch as it arrives, at most 8 samples a pass: a batch of 11, then
        // batches of 3 and the rest.
        const per = d * P;
        for (let b0 = 0, n = 0; b0 < B; b0 += n) {
          n = Math.min(b0 === 0 ? 11 : 3, B - b0);
          group.add(data.subarray(b0 * per, (b0 + n) * per), n);
        }
        const acc = createGaussianAccumulator(P, d);
        await group.mergeInto(acc, recording(wasm ? seen.wasm : seen.scalar));
        // A second group merges into a non-empty accumulator, where the shift of the means counts.
        group.add(randomBatch(Math.min(B, 3), d, P, 70 + B), Math.min(B, 3));
        await group.mergeInto(acc, recording(wasm ? seen.wasm : seen.scalar));
        results.push(acc);
      }
      expect(seen.wasm.length).toBe(2 * Math.ceil(P / block));
      seen.wasm.forEach((c, i) => expect(Buffer.from(c.buffer).equals(Buffer.from(seen.scalar[i].buffer))).toBe(true));
      expect(Array.from(results[0].mean)).toEqual(Array.from(results[1].mean));
      expect(Array.from(results[0].comoment)).toEqual(Array.from(results[1].comoment));
    }
  });

  it('pads each position to whole quads of samples with zeros, also when a smaller group follows a larger one in the same memory', async () => {
    const P = 9;
    const d = 3;
    const group = new GramGroup(P, d, 8, { blockPositions: { centred: 9, gram: 9 } });
    const widths: number[] = [];
    const padding: number[] = [];
    const gram: BatchedGram = async (centred, positions, dd, Bs, out) => {
      widths.push(Bs);
      for (let r = 0; r < positions * dd; r++) for (let b = 5; b < Bs; b++) padding.push(centred[r * Bs + b]);
      await naiveGram(centred, positions, dd, Bs, out);
    };
    const acc = createGaussianAccumulator(P, d);
    const reference = createGaussianAccumulator(P, d);
    for (const n of [8, 5]) {
      const data = randomBatch(n, d, P, 30 + n);
      group.add(data, n);
      expect(group.size).toBe(n);
      await group.mergeInto(acc, gram);
      expect(group.size).toBe(0);
      accumulateEmbeddingsReference(reference, data, n);
    }
    expect(widths).toEqual([8, 8]);
    // The 8-sample group wrote columns 5..7; the 5-sample group's padding there must read zero.
    expect(padding.slice(P * d * 3).every((v) => v === 0)).toBe(true);
    expect(worstScaledError(acc.comoment, reference.comoment, P, d)).toBeLessThan(1e-6);
  });

  it('centres only the samples its sums are of, summed slot after slot', () => {
    const kernel = gramCentreKernel(8, 2, 4, 8, 8)!;
    expect(() => kernel.centre(0, 8, 1)).toThrow('gramCentreKernel: centring 1 samples, but the sums are of 0');
    kernel.sample(0).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    kernel.sumSamples(0, 1);
    expect(() => kernel.sumSamples(2, 1)).toThrow('gramCentreKernel: cannot sum slots [2, 3) after 1 summed, of 4 slots');
    expect(() => kernel.sumSamples(1, 4)).toThrow('gramCentreKernel: cannot sum slots [1, 5) after 1 summed, of 4 slots');
    kernel.sample(1).fill(1);
    kernel.sumSamples(1, 1);
    expect(() => kernel.centre(0, 8, 1)).toThrow('centring 1 samples, but the sums are of 2');
    // Two samples: the means are (x + 1) / 2, [d][P] in, [P][d] out.
    expect(Array.from(kernel.centre(0, 8, 2).groupMean.subarray(0, 4))).toEqual([1, 5, 1.5, 5.5]);
    // A new group starts its sums from zero.
    kernel.sumSamples(0, 1);
    expect(Array.from(kernel.centre(0, 8, 1).groupMean.subarray(0, 4))).toEqual([1, 9, 2, 10]);
  });

  it('refuses more samples than its capacity and a batch of the wrong size, naming both', () => {
    const group = new GramGroup(4, 3, 2);
    expect(() => group.add(new Float32Array(5), 1)).toThrow(/GramGroup.add: batch has 5 values for n=1, expected n\*dim\*positions = 1\*3\*4 = 12/);
    group.add(new Float32Array(12), 1);
    expect(() => group.add(new Float32Array(24), 2)).toThrow(/1 \+ 2 samples exceed the group's capacity of 2/);
  });

  it('splits the Gram product into bands of at least 48 rows, at most four, which hold the upper triangle', () => {
    expect(gramBands(47)).toEqual([0, 47]);
    expect(gramBands(100)).toEqual([0, 50, 100]);
    expect(gramBands(143)).toEqual([0, 71, 143]);
    expect(gramBands(144)).toEqual([0, 48, 96, 144]);
    expect(gramBands(550)).toEqual([0, 137, 275, 412, 550]);
    expect(gramBandFloats(47)).toBe(47 * 47);
    // 3/4 of the d² products at d=100.
    expect(gramBandFloats(100)).toBe(50 * 100 + 50 * 50);
    for (const d of [1, 47, 48, 96, 100, 143, 550, 1000]) {
      const starts = gramBands(d);
      expect(starts[0]).toBe(0);
      expect(starts[starts.length - 1]).toBe(d);
      for (let k = 0; k + 1 < starts.length; k++) expect(starts[k + 1] - starts[k] >= Math.min(d, 47)).toBe(true);
      expect(gramBandFloats(d)).toBeGreaterThanOrEqual((d * (d + 1)) / 2);
    }
  });

  it('lays a block of positions out band after band, each [positions][rows][d − first]', () => {
    expect(gramBandLayout(100, 3)).toEqual([
      { first: 0, rows: 50, width: 100, offset: 0, floats: 3 * 50 * 100 },
      { first: 50, rows: 50, width: 50, offset: 3 * 50 * 100, floats: 3 * 50 * 50 },
    ]);
    for (const [d, positions] of [
      [47, 5],
      [550, 7],
    ]) {
      const bands = gramBandLayout(d, positions);
      expect(bands.map((b) => b.first)).toEqual(gramBands(d).slice(0, -1));
      const last = bands[bands.length - 1];
      expect(last.offset + last.floats).toBe(positions * gramBandFloats(d));
    }
  });

  it('bounds a GEMM block to 1 MiB of output and a centred block to 8 MiB, whatever d is', () => {
    // 7,500 floats of bands per position at d=100.
    expect(gramBlockPositions(100, 4096)).toBe(34);
    expect(gramBlockPositions(550, 4096)).toBe(1);
    expect(gramBlockPositions(4000, 4096)).toBe(1);
    expect(gramBlockPositions(10, 7)).toBe(7);
    expect(centredBlockPositions(100, 64, 4096)).toBe(320);
    expect(centredBlockPositions(550, 64, 4096)).toBe(48);
    expect(centredBlockPositions(550, 1000, 4096)).toBe(3);
    expect(centredBlockPositions(10, 2, 7)).toBe(7);
  });
});

/** A group's mean ([P, d]) and packed co-moment about it ([P, d(d+1)/2]) from [n, d, P] samples, in float64 then rounded to float32. */
function naiveGroupStatistics(data: Float32Array, n: number, d: number, P: number): { n: number; mean: Float32Array; comoment: Float32Array } {
  const T = (d * (d + 1)) / 2;
  const mean = new Float32Array(P * d);
  const comoment = new Float32Array(P * T);
  const x = (b: number, c: number, p: number) => data[(b * d + c) * P + p];
  for (let p = 0; p < P; p++) {
    const mu = new Float64Array(d);
    for (let c = 0; c < d; c++) {
      for (let b = 0; b < n; b++) mu[c] += x(b, c, p);
      mu[c] /= n;
      mean[p * d + c] = mu[c];
    }
    let k = p * T;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++, k++) {
        let s = 0;
        for (let b = 0; b < n; b++) s += (x(b, i, p) - mu[i]) * (x(b, j, p) - mu[j]);
        comoment[k] = s;
      }
    }
  }
  return { n, mean, comoment };
}

describe('mergeGroupStatistics', () => {
  it('merges groups given as their mean and packed co-moment as the per-sample float64 reference accumulates them', () => {
    const P = 7;
    const d = 5;
    const merged = createGaussianAccumulator(P, d);
    const reference = createGaussianAccumulator(P, d);
    [3, 1, 6].forEach((n, i) => {
      const data = randomBatch(n, d, P, 10 + i);
      mergeGroupStatistics(merged, naiveGroupStatistics(data, n, d, P));
      accumulateEmbeddingsReference(reference, data, n);
    });
    expect(merged.count).toBe(10);
    // The group means are float32 here (as a graph emits them): ~1e-7 of the mean.
    expect(worstRelative(merged.mean, reference.mean)).toBeLessThan(1e-6);
    expect(worstScaledError(merged.comoment, reference.comoment, P, d)).toBeLessThan(1e-5);
  });

  it('hand-checked: [1, 2] then the group {[3, 6], [5, 10]} as mean [4, 8] and co-moment [[2, 4], [4, 8]]', () => {
    const acc = createGaussianAccumulator(1, 2);
    mergeGroupStatistics(acc, { n: 1, mean: Float32Array.from([1, 2]), comoment: new Float32Array(3) });
    mergeGroupStatistics(acc, { n: 2, mean: Float32Array.from([4, 8]), comoment: Float32Array.from([2, 4, 8]) });
    // Samples [1 2], [3 6], [5 10]: mean [3 6]; centred [−2 −4], [0 0], [2 4]: co-moment [[8 16] [16 32]].
    expect(acc.count).toBe(3);
    expect(Array.from(acc.mean)).toEqual([3, 6]);
    expect(Array.from(acc.comoment)).toEqual([8, 16, 32]);
  });

  it('names the statistics whose size does not match the accumulator', () => {
    const acc = createGaussianAccumulator(4, 3);
    expect(() => mergeGroupStatistics(acc, { n: 2, mean: new Float32Array(12), comoment: new Float32Array(23) })).toThrow(
      /mergeGroupStatistics: group has 12 means and 23 co-moments, expected positions×d = 12 and positions×d\(d\+1\)\/2 = 24/,
    );
  });
});
