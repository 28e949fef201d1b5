import { accumulateEmbeddingGroup, accumulateEmbeddings, createResidentGaussianAccumulator } from './accumulate-embeddings';
import { comomentKernel, disableComomentKernel } from './comoment-kernel';
import { createGaussianAccumulator, type GaussianAccumulator } from './gaussian-accumulator';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
}

function run(P: number, d: number, B: number, scalar: boolean, resident = false): GaussianAccumulator {
  const rnd = lcg(d * 131 + B);
  const acc = resident ? createResidentGaussianAccumulator(P, d, 8) : createGaussianAccumulator(P, d);
  disableComomentKernel(scalar);
  try {
    for (let r = 0; r < 3; r++) {
      // Offset mean so that centring matters.
      const batch = Float32Array.from({ length: B * d * P }, () => 40 + 3 * rnd());
      accumulateEmbeddings(acc, batch, B);
    }
  } finally {
    disableComomentKernel(false);
  }
  return acc;
}

describe('co-moment kernel', () => {
  it('is available under Node (wasm SIMD)', () => {
    expect(comomentKernel(8, 100, 8)).not.toBeNull();
  });

  it.each([
    [5, 1, 1],
    [9, 2, 3],
    [13, 7, 8],
    [11, 10, 2],
    [20, 13, 16],
    [9, 100, 8],
    [3, 101, 5],
  ])('wasm and scalar paths agree bit for bit (P=%i, d=%i, B=%i)', (P, d, B) => {
    const wasm = run(P, d, B, false);
    const scalar = run(P, d, B, true);
    expect(wasm.count).toBe(scalar.count);
    expect(Array.from(wasm.mean)).toEqual(Array.from(scalar.mean));
    expect(Array.from(wasm.comoment)).toEqual(Array.from(scalar.comoment));
  });

  it.each([
    [13, 7, 8],
    [20, 13, 3],
    [9, 100, 8],
    [11, 10, 16],
  ])('a resident accumulator gives the copying path bit for bit, beyond its largest batch too (P=%i, d=%i, B=%i)', (P, d, B) => {
    const resident = run(P, d, B, false, true);
    const copying = run(P, d, B, false);
    expect(resident.count).toBe(copying.count);
    expect(Array.from(resident.mean)).toEqual(Array.from(copying.mean));
    expect(Array.from(resident.comoment)).toEqual(Array.from(copying.comoment));
    // Its co-moments stay readable and separate from another resident accumulator's.
    const other = run(P, d, B + 1, false, true);
    expect(Array.from(resident.comoment)).toEqual(Array.from(copying.comoment));
    expect(other.comoment).not.toBe(resident.comoment);
  });

  it('a group of batches is the batch of their concatenation, bit for bit', () => {
    const P = 10;
    const d = 9;
    const rnd = lcg(77);
    const sizes = [3, 5, 2];
    const batches = sizes.map((n) => ({ data: Float32Array.from({ length: n * d * P }, () => 5 + rnd()), n }));
    const grouped = createResidentGaussianAccumulator(P, d);
    accumulateEmbeddingGroup(grouped, batches);
    const concatenated = createGaussianAccumulator(P, d);
    const all = new Float32Array(10 * d * P);
    let offset = 0;
    for (const b of batches) {
      all.set(b.data, offset);
      offset += b.data.length;
    }
    accumulateEmbeddings(concatenated, all, 10);
    expect(grouped.count).toBe(10);
    expect(Array.from(grouped.mean)).toEqual(Array.from(concatenated.mean));
    expect(Array.from(grouped.comoment)).toEqual(Array.from(concatenated.comoment));
    expect(() => accumulateEmbeddingGroup(grouped, [{ data: new Float32Array(5), n: 1 }])).toThrow(/accumulateEmbeddingGroup: batch has 5 values, expected/);
  });
});
