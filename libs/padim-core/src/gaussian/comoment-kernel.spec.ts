import { accumulateEmbeddings } from './accumulate-embeddings';
import { comomentKernel, disableComomentKernel } from './comoment-kernel';
import { createGaussianAccumulator, type GaussianAccumulator } from './gaussian-accumulator';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
}

function run(P: number, d: number, B: number, scalar: boolean): GaussianAccumulator {
  const rnd = lcg(d * 131 + B);
  const acc = createGaussianAccumulator(P, d);
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
});
