import { triangleSize } from '../linalg';
import { mulberry32 } from '../random';
import {
  DEFAULT_BLOCKED_KERNEL_BYTES,
  createBlockedMahalanobisKernel,
  createMahalanobisKernel,
  createMahalanobisKernelLoader,
  type MahalanobisKernel,
} from './mahalanobis-kernel';
import { mahalanobisMapBatch } from './mahalanobis-map';

interface Model {
  mean: Float32Array;
  invCholesky: Float32Array;
}

/** PaDiM-like values: means about 0.5, a packed lower L⁻¹ with positive diagonal, off-diagonals ~1/√d. */
function randomModel(d: number, P: number, seed: number): Model {
  const rnd = mulberry32(seed);
  const T = triangleSize(d);
  const invCholesky = new Float32Array(P * T);
  const scale = 2 / Math.sqrt(d);
  for (let p = 0; p < P; p++) {
    let o = p * T;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) invCholesky[o++] = (rnd() - 0.5) * scale;
      invCholesky[o++] = 0.5 + rnd();
    }
  }
  const mean = Float32Array.from({ length: P * d }, () => 0.5 + (rnd() - 0.5) * 0.4);
  return { mean, invCholesky };
}

function randomEmbeddings(n: number, d: number, P: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  // Uniform with std 1 around 0.5.
  return Float32Array.from({ length: n * d * P }, () => 0.5 + (rnd() - 0.5) * Math.sqrt(12));
}

function expectClose(kernel: MahalanobisKernel, model: Model, embeddings: Float32Array, n: number, got: Float32Array): void {
  const d = kernel.dim;
  const P = kernel.positions;
  const ref = mahalanobisMapBatch(embeddings, model.mean, model.invCholesky, d, P, n);
  expect(got.length).toBe(n * P);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]) / Math.max(1, Math.abs(ref[i]));
    // NaN must fail too.
    worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(1e-4);
}

describe('createMahalanobisKernel', () => {
  const P = 37; // not a multiple of the kernel's 16-position block

  it.each([1, 7, 33, 100])('matches mahalanobisMapBatch for d=%i and n = 1, 3, 8, 9, 13', (d) => {
    const model = randomModel(d, P, d);
    const kernel = createMahalanobisKernel(model.mean, model.invCholesky, d, P);
    expect(kernel).not.toBeNull();
    for (const n of [1, 3, 8, 9, 13]) {
      const embeddings = randomEmbeddings(n, d, P, 1000 * d + n);
      expectClose(kernel!, model, embeddings, n, kernel!.distances(embeddings, n));
    }
  });

  it('reuses its scratch across calls with different n, and fills a given out', () => {
    const d = 33;
    const model = randomModel(d, P, 5);
    const kernel = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    for (const [n, seed] of [
      [13, 1],
      [3, 2],
      [9, 3],
      [1, 4],
      [13, 5],
    ]) {
      const embeddings = randomEmbeddings(n, d, P, seed);
      const out = new Float32Array(n * P).fill(-1);
      expect(kernel.distances(embeddings, n, out)).toBe(out);
      expectClose(kernel, model, embeddings, n, out);
    }
  });

  it('keeps each kernel’s factors separate', () => {
    const d = 7;
    const a = randomModel(d, P, 11);
    const b = randomModel(d, P, 12);
    const ka = createMahalanobisKernel(a.mean, a.invCholesky, d, P)!;
    const kb = createMahalanobisKernel(b.mean, b.invCholesky, d, P)!;
    const embeddings = randomEmbeddings(5, d, P, 13);
    expectClose(ka, a, embeddings, 5, ka.distances(embeddings, 5));
    expectClose(kb, b, embeddings, 5, kb.distances(embeddings, 5));
  });

  it('reports its memory and returns null when maxBytes is smaller', () => {
    const d = 33;
    const model = randomModel(d, P, 7);
    const kernel = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    expect(kernel.bytes).toBeGreaterThanOrEqual((model.mean.length + model.invCholesky.length) * 4);
    expect(createMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes: kernel.bytes })).not.toBeNull();
    expect(createMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes: kernel.bytes - 1 })).toBeNull();
    expect(createMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes: 1000 })).toBeNull();
  });

  it('names the argument whose shape is wrong', () => {
    const d = 7;
    const model = randomModel(d, P, 9);
    expect(() => createMahalanobisKernel(model.mean.subarray(1), model.invCholesky, d, P)).toThrow(
      /createMahalanobisKernel: mean has 258 values, expected P·d = 37·7 = 259/,
    );
    expect(() => createMahalanobisKernel(model.mean, new Float32Array(10), d, P)).toThrow(
      /createMahalanobisKernel: invCholesky has 10 values, expected P·d\(d\+1\)\/2 = 37·28 = 1036/,
    );
    expect(() => createMahalanobisKernel(model.mean, model.invCholesky, 0, P)).toThrow(/createMahalanobisKernel: dim must be/);
    expect(() => createMahalanobisKernel(model.mean, model.invCholesky, d, 2.5)).toThrow(/createMahalanobisKernel: positions must be/);

    const kernel = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    const embeddings = randomEmbeddings(2, d, P, 1);
    expect(() => kernel.distances(embeddings, 3)).toThrow(/distances: embeddings has 518 values, expected n·d·P = 3·7·37 = 777/);
    expect(() => kernel.distances(embeddings, 2, new Float32Array(73))).toThrow(/distances: out has 73 values, expected n·P = 2·37 = 74/);
    expect(() => kernel.distances(embeddings.subarray(0, 0), 0)).toThrow(/distances: n must be a positive integer/);
  });
});

describe('createMahalanobisKernelLoader', () => {
  const P = 37;

  it('gives the whole-model kernel’s distances, bit for bit, from factors added a few positions at a time', () => {
    for (const d of [7, 33]) {
      const model = randomModel(d, P, 20 + d);
      const T = triangleSize(d);
      const whole = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
      const loader = createMahalanobisKernelLoader(d, P)!;
      expect(loader.bytes).toBe(whole.bytes);
      // Uneven blocks, one of a single position, none aligned to the kernel's 16-position block.
      for (const [from, to] of [
        [0, 1],
        [1, 6],
        [6, 29],
        [29, P],
      ]) {
        loader.addFactors(model.invCholesky.slice(from * T, to * T));
        expect(loader.loaded).toBe(to);
      }
      const streamed = loader.finish(model.mean);
      const embeddings = randomEmbeddings(9, d, P, d);
      const expected = whole.distances(embeddings, 9);
      expect(streamed.distances(embeddings, 9)).toEqual(expected);
      expectClose(streamed, model, embeddings, 9, expected);
    }
  });

  it('refuses partial positions, too many positions, an early or second finish, and means of the wrong size', () => {
    const d = 7;
    const T = triangleSize(d);
    const model = randomModel(d, P, 3);
    const loader = createMahalanobisKernelLoader(d, P)!;
    expect(() => loader.addFactors(new Float32Array(T + 1))).toThrow(
      /addFactors: invCholesky has 29 values, not a whole number of positions of d\(d\+1\)\/2 = 28 within the 37 left/,
    );
    loader.addFactors(model.invCholesky.subarray(0, 30 * T));
    expect(() => loader.finish(model.mean)).toThrow(/finish: factors of 30 of 37 positions were added/);
    expect(() => loader.addFactors(new Float32Array(8 * T))).toThrow(/within the 7 left/);
    loader.addFactors(model.invCholesky.subarray(30 * T));
    expect(() => loader.finish(model.mean.subarray(1))).toThrow(/finish: mean has 258 values, expected P·d = 37·7 = 259/);
    loader.finish(model.mean);
    expect(() => loader.finish(model.mean)).toThrow(/already finished/);
    expect(() => loader.addFactors(new Float32Array(T))).toThrow(/already finished/);
    expect(() => createMahalanobisKernelLoader(0, P)).toThrow(/createMahalanobisKernelLoader: dim must be a positive integer, got 0/);
    expect(createMahalanobisKernelLoader(d, P, { maxBytes: 1000 })).toBeNull();
  });
});

describe('createBlockedMahalanobisKernel', () => {
  it.each([
    [7, 37],
    [33, 37],
    [100, 53],
  ])('gives the whole-model kernel’s distances exactly, d=%i P=%i, in blocks of any size and for batches of any n', (d, P) => {
    const model = randomModel(d, P, d + P);
    const whole = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    const batches = [1, 8, 13, 3].map((n, i) => ({ data: randomEmbeddings(n, d, P, 100 * d + i), n }));
    const expected = batches.map((b) => whole.distances(b.data, b.n));
    const perPosition = whole.bytes / P;
    // One position per block, blocks of a few positions (P not a multiple of them), all P in one block.
    for (const maxBytes of [1, 5, 20, 2 * P].map((positions) => Math.ceil(positions * perPosition) + 2 ** 17)) {
      const blocked = createBlockedMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes })!;
      expect(blocked.bytes).toBeLessThanOrEqual(maxBytes);
      const got = blocked.distances(batches);
      expect(got.map((g) => Array.from(g))).toEqual(expected.map((e) => Array.from(e)));
    }
    const oneBlock = createBlockedMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    expect(oneBlock.blockPositions).toBe(P);
  });

  it('holds at most maxBytes of wasm memory whatever P, where the whole-model kernel grows with P', () => {
    // d=64 on a 64×32 grid: the whole-model kernel needs 22 MB, the blocked one stays under 4 MiB.
    const d = 64;
    const P = 64 * 32;
    const model = randomModel(d, P, 3);
    const maxBytes = 4 * 2 ** 20;
    const whole = createMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    expect(whole.bytes).toBeGreaterThan(20e6);
    const blocked = createBlockedMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes })!;
    expect(blocked.bytes).toBeLessThanOrEqual(maxBytes);
    expect(blocked.blockPositions).toBeLessThan(P);
    expect(blocked.blockPositions % 16).toBe(0);
    const embeddings = randomEmbeddings(3, d, P, 4);
    const got = blocked.distances([{ data: embeddings, n: 3 }])[0];
    const expected = whole.distances(embeddings, 3);
    expect(got.every((v, i) => v === expected[i])).toBe(true);
    // resnet50's d=550 by default: a block of about 400 of its 4096 positions in 256 MiB.
    expect(DEFAULT_BLOCKED_KERNEL_BYTES).toBe(256 * 2 ** 20);
    const small = createBlockedMahalanobisKernel(new Float32Array(550), new Float32Array(triangleSize(550)), 550, 1)!;
    expect(small.bytes).toBeLessThan(2 ** 20);
  });

  it('returns null when one position does not fit maxBytes, and names a wrong shape', () => {
    const d = 33;
    const P = 37;
    const model = randomModel(d, P, 8);
    expect(createBlockedMahalanobisKernel(model.mean, model.invCholesky, d, P, { maxBytes: 1000 })).toBeNull();
    expect(() => createBlockedMahalanobisKernel(model.mean.subarray(1), model.invCholesky, d, P)).toThrow(
      /createBlockedMahalanobisKernel: mean has 1220 values, expected P·d = 37·33 = 1221/,
    );
    const blocked = createBlockedMahalanobisKernel(model.mean, model.invCholesky, d, P)!;
    expect(() => blocked.distances([{ data: randomEmbeddings(2, d, P, 1), n: 3 }])).toThrow(
      /distances: embeddings has 2442 values, expected n·d·P = 3·33·37 = 3663/,
    );
  });
});
