import { accumulateEmbeddings, cloneAccumulator, createGaussianAccumulator, finalizeGaussianFloat32 } from '@padim-fleet/padim-core';
import { randomFloats } from '../testing/random-floats';
import { FinalizePool, finalizeInParallel, finalizeInSlices, finalizeThreadsAvailable } from './finalize-in-parallel';

function accumulator(P: number, d: number, seed: number) {
  const acc = createGaussianAccumulator(P, d);
  accumulateEmbeddings(acc, randomFloats(3 * d * P, seed), 3);
  accumulateEmbeddings(acc, randomFloats(9 * d * P, seed + 1), 9);
  return acc;
}

describe('FinalizePool', () => {
  it('gives finalizeGaussianFloat32 bit for bit, over several calls on the same threads', async () => {
    // `npm test` builds first: the threads load padim-core's compiled build.
    expect(finalizeThreadsAvailable()).toBe(true);
    const pool = new FinalizePool(2);
    try {
      for (const [P, d] of [
        [37, 6],
        [5, 11],
        [64, 3],
      ]) {
        const acc = accumulator(P, d, P + d);
        const parallel = await pool.finalize(acc, { regularization: 0.02 });
        const single = finalizeGaussianFloat32(acc, { regularization: 0.02 });
        expect(Array.from(parallel.invCholesky)).toEqual(Array.from(single.invCholesky));
        expect(Array.from(parallel.mean)).toEqual(Array.from(single.mean));
        expect([parallel.positions, parallel.dim, parallel.count]).toEqual([P, d, 12]);
      }
    } finally {
      await pool.close();
    }
  });

  it('with one thread still works off the event loop, and the in-slices fallback gives the same values', async () => {
    const acc = accumulator(450, 100, 7);
    const single = finalizeGaussianFloat32(acc);
    const pool = new FinalizePool(1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const [threaded, sliced] = [await pool.finalize(acc), await finalizeInSlices(acc)];
      expect(Array.from(threaded.invCholesky)).toEqual(Array.from(single.invCholesky));
      expect(Array.from(sliced.invCholesky)).toEqual(Array.from(single.invCholesky));
      // 450 positions at d=100 are three slices: the timers ran between them.
      expect(ticks).toBeGreaterThan(1);
    } finally {
      clearInterval(timer);
      await pool.close();
    }
  }, 60_000);

  it('in place: the same values written over the co-moments, on threads and in slices, with no second buffer', async () => {
    // 64 positions on 2 threads are 8 slices, whose replies arrive in any order.
    for (const [P, d, threads] of [[64, 5, 2]]) {
      const acc = accumulator(P, d, P);
      const single = finalizeGaussianFloat32(acc);
      for (const finalize of [
        (a: typeof acc) => finalizeInParallel(a, { threads, inPlace: true }),
        (a: typeof acc) => finalizeInSlices(a, { inPlace: true }),
      ]) {
        const consumed = cloneAccumulator(acc);
        const buffer = consumed.comoment.buffer;
        const g = await finalize(consumed);
        expect(Array.from(g.invCholesky)).toEqual(Array.from(single.invCholesky));
        expect(Array.from(g.mean)).toEqual(Array.from(single.mean));
        expect(g.invCholesky.buffer).toBe(buffer);
        expect(consumed.comoment.length).toBe(0);
      }
    }
  });

  it('names the position (in the whole map) whose covariance is not positive definite, and checks its input first', async () => {
    const acc = createGaussianAccumulator(40, 2);
    acc.count = 5;
    for (let p = 0; p < 40; p++) acc.comoment.set(p === 33 ? [4, 0, -4] : [4, 0, 4], p * 3);
    await expect(finalizeInParallel(acc, { threads: 2, firstPosition: 100 })).rejects.toThrow(/position 133.*pivot 1 is -0.99/);
    await expect(finalizeInParallel(createGaussianAccumulator(8, 2), { threads: 2 })).rejects.toThrow(/at least 2 samples/);
  });
});
