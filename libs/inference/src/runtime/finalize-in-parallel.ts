import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import {
  Float32Gaussian,
  FinalizeGaussianOptions,
  GaussianAccumulator,
  checkFinalizable,
  consumeAccumulator,
  factorsOverComoments,
  finalizeGaussianFloat32,
  sliceAccumulator,
  triangleSize,
} from '@padim-fleet/padim-core';

/** Co-moments copied to a worker at a time: bounds the extra memory (d=550: 52 positions a slice). */
const MAX_SLICE_BYTES = 64 * 1024 ** 2;
export interface FinalizeInPlaceOption {
  /**
   * Write the float32 factors over the accumulator's co-moments, which it consumes (see
   * finalizeGaussianInPlace): the peak is the accumulator alone, not the accumulator and the factors.
   * @defaultValue false
   */
  inPlace?: boolean;
}

/** Slices per thread, so a thread that falls behind (a busy core) does not hold up the others long. */
const SLICES_PER_THREAD = 4;

// Plain JavaScript evaluated from a string, so it runs the same from compiled output and from tests that
// load TypeScript sources; it loads padim-core's compiled build.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const core = require(workerData.corePath);
parentPort.on('message', (m) => {
  try {
    const acc = { positions: m.positions, dim: m.dim, count: m.count, mean: m.mean, comoment: m.comoment };
    const g = core.finalizeGaussianFloat32(acc, { regularization: m.regularization, firstPosition: m.firstPosition });
    parentPort.postMessage({ invCholesky: g.invCholesky }, [g.invCholesky.buffer]);
  } catch (e) {
    parentPort.postMessage({ error: e && e.message ? e.message : String(e) });
  }
});
`;

let corePath: string | null | undefined;

/**
 * padim-core's compiled entry point for the workers (its package's `main`, found as Node finds an
 * installed package), or null when it is not built. Looked up by hand: test runners replace `require`
 * and its resolver with ones that map the package to its TypeScript sources.
 */
function compiledCorePath(): string | null {
  if (corePath !== undefined) return corePath;
  corePath = null;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'node_modules', '@padim-fleet', 'padim-core', 'package.json');
    if (existsSync(manifest)) {
      const main = (JSON.parse(readFileSync(manifest, 'utf8')) as { main?: string }).main ?? 'index.js';
      const file = path.join(path.dirname(realpathSync(manifest)), main);
      if (existsSync(file)) corePath = file;
      return corePath;
    }
    if (path.dirname(dir) === dir) return corePath;
  }
}

/** Whether finalisation can use worker threads here (padim-core's compiled build is found). */
export function finalizeThreadsAvailable(): boolean {
  return compiledCorePath() !== null;
}

/**
 * finalizeGaussianFloat32 on worker threads, each taking slices of positions (they are independent):
 * the same float32 values, in 1/threads of the time on idle cores. Per-position Cholesky factorisation
 * is the trainer's and the reducer's largest cost after extraction (4096 × 2·d³/3 flops: 2.5 s on one
 * core for d=100, minutes for d=550), and the event loop stays free meanwhile. Where padim-core is not
 * built it works on the calling thread, in slices with the event loop let in between.
 */
export class FinalizePool {
  private workers: Worker[] | null = null;
  readonly threads: number;

  constructor(threads = availableParallelism()) {
    this.threads = Math.max(1, Math.floor(threads));
  }

  async finalize(acc: GaussianAccumulator, opts: FinalizeGaussianOptions & FinalizeInPlaceOption = {}): Promise<Float32Gaussian> {
    checkFinalizable(acc, opts);
    const core = compiledCorePath();
    if (core === null) return finalizeInSlices(acc, opts);
    // Even one thread is a worker: a block at d=550 takes seconds, which the event loop (job locks) cannot wait.
    const threads = Math.max(1, Math.min(this.threads, Math.floor(acc.positions / 2)));
    this.workers ??= Array.from({ length: this.threads }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { corePath: core } }));
    const { positions: P, dim: d } = acc;
    const T = triangleSize(d);
    const slice = Math.max(1, Math.min(Math.ceil(P / (threads * SLICES_PER_THREAD)), Math.floor(MAX_SLICE_BYTES / (T * 8))));
    const invCholesky = opts.inPlace ? factorsOverComoments(acc) : new Float32Array(P * T);
    const firstPosition = opts.firstPosition ?? 0;
    // Slices are copied out in position order before any reply lands, so a reply written in place
    // (over positions below its own end) never overwrites co-moments not yet copied.
    let next = 0;
    await Promise.all(
      this.workers.slice(0, threads).map(async (worker) => {
        while (next < P) {
          const start = next;
          const end = Math.min(P, start + slice);
          next = end;
          const part = sliceAccumulator(acc, start, end);
          const reply = await new Promise<{ invCholesky?: Float32Array; error?: string }>((resolve, reject) => {
            const onError = (e: Error) => reject(e);
            worker.once('error', onError);
            worker.once('message', (m) => {
              worker.off('error', onError);
              resolve(m);
            });
            const message = {
              positions: end - start,
              dim: d,
              count: acc.count,
              mean: part.mean,
              comoment: part.comoment,
              regularization: opts.regularization,
              firstPosition: firstPosition + start,
            };
            worker.postMessage(message, [part.mean.buffer as ArrayBuffer, part.comoment.buffer as ArrayBuffer]);
          });
          if (reply.error !== undefined) throw new RangeError(reply.error);
          invCholesky.set(reply.invCholesky!, start * T);
        }
      }),
    );
    return opts.inPlace ? consumeAccumulator(acc, invCholesky) : { positions: P, dim: d, count: acc.count, mean: Float32Array.from(acc.mean), invCholesky };
  }

  async close(): Promise<void> {
    const workers = this.workers ?? [];
    this.workers = null;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Finalising at d=550 costs ~0.1 s per position: slices of about this many flops, with the event loop let in between. */
const FLOPS_PER_SLICE = 2e8;

/** finalizeGaussianFloat32 on the calling thread, a slice of positions at a time with the event loop let in between. */
export async function finalizeInSlices(acc: GaussianAccumulator, opts: FinalizeGaussianOptions & FinalizeInPlaceOption = {}): Promise<Float32Gaussian> {
  checkFinalizable(acc, opts);
  const { positions: P, dim: d } = acc;
  const T = triangleSize(d);
  const slice = Math.max(1, Math.floor(FLOPS_PER_SLICE / d ** 3));
  const invCholesky = opts.inPlace ? factorsOverComoments(acc) : new Float32Array(P * T);
  // In order: a slice's factors land over co-moments of positions below its end, all read by then.
  for (let start = 0; start < P; start += slice) {
    const end = Math.min(P, start + slice);
    invCholesky.set(
      finalizeGaussianFloat32(sliceAccumulator(acc, start, end), { ...opts, firstPosition: (opts.firstPosition ?? 0) + start }).invCholesky,
      start * T,
    );
    if (end < P) await setImmediate();
  }
  return opts.inPlace ? consumeAccumulator(acc, invCholesky) : { positions: P, dim: d, count: acc.count, mean: Float32Array.from(acc.mean), invCholesky };
}

/** One FinalizePool.finalize with a pool of its own. */
export async function finalizeInParallel(
  acc: GaussianAccumulator,
  opts: FinalizeGaussianOptions & FinalizeInPlaceOption & { threads?: number } = {},
): Promise<Float32Gaussian> {
  const pool = new FinalizePool(opts.threads);
  try {
    return await pool.finalize(acc, opts);
  } finally {
    await pool.close();
  }
}
