import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import {
  ACCUMULATOR_FILE,
  ACCUMULATOR_HEADER_BYTES,
  AccumulatorHeader,
  COVARIANCE_REGULARIZATION,
  GaussianAccumulator,
  INV_CHOLESKY_FILE,
  MEAN_FILE,
  accumulatorLayout,
  decodeAccumulatorPayload,
  encodeAccumulatorHeader,
  encodeAccumulatorPayload,
  mergeInto,
} from '@padim-fleet/padim-core';
import { FinalizePool } from '@padim-fleet/inference';
import type { BlobStore } from '@padim-fleet/storage';
import { readStoredAccumulatorHeader } from './accumulator-stream';

export interface MergeOptions {
  /** Scratch folder for the outputs (created if missing). */
  dir: string;
  /** Bytes of partial data held at once (two blocks in flight: one read ahead, one merging). @defaultValue 512 MiB */
  memoryBytes?: number;
  /** Finalise each block into mean and L⁻¹ (float32) besides the merged statistics. @defaultValue true */
  finalize?: boolean;
  regularization?: number;
  /** Expected shape; a partial that differs fails the merge, naming its key. */
  expect?: { positions: number; dim: number };
  readConcurrency?: number;
  /** Threads that finalise. @defaultValue os.availableParallelism() */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MergeResult {
  positions: number;
  dim: number;
  count: number;
  blockPositions: number;
  /** Complete accumulator file (header + payload) of all inputs merged. */
  accumulatorFile: string;
  /**
   * Set when the merged file is byte for byte the one stored partial (a run of one shard, no base):
   * it can then be copied server-side instead of uploaded. `sha256` and `bytes` are the file's.
   */
  sameAs?: { key: string; sha256: string; bytes: number };
  meanFile?: string;
  invCholeskyFile?: string;
}

/** The inputs hold fewer than the 2 samples an unbiased covariance needs. */
export class NotEnoughSamplesError extends Error {
  override name = 'NotEnoughSamplesError';
  constructor(readonly count: number) {
    super(`the partials hold ${count} images; a Gaussian needs at least 2`);
  }
}

const MIN_BLOCKS = 8;

/**
 * Merges stored partial accumulators block by block of patch positions: each block is a byte range of
 * every partial (the format is position-major), so memory is bounded by the block size, not by the
 * number or size of the partials. Input CRCs are checked as the blocks stream past; the merged
 * statistics, and optionally the finalised float32 tensors, go to files in `dir`.
 */
export async function mergePartials(store: BlobStore, keys: string[], opts: MergeOptions): Promise<MergeResult> {
  if (keys.length === 0) throw new Error('mergePartials: no partials to merge');
  const headers = await Promise.all(keys.map((key) => readStoredAccumulatorHeader(store, key)));
  const { positions, dim } = opts.expect ?? headers[0];
  headers.forEach((h, i) => {
    if (h.positions !== positions || h.dim !== dim) {
      throw new Error(`${keys[i]}: partial is ${h.positions} positions x d=${h.dim}, expected ${positions} x d=${dim}`);
    }
  });
  const count = headers.reduce((a, h) => a + h.count, 0);
  if ((opts.finalize ?? true) && count < 2) throw new NotEnoughSamplesError(count);
  const layout = accumulatorLayout(positions, dim);
  const memoryBytes = opts.memoryBytes ?? 512 * 1024 ** 2;
  // Per position in flight: one slice per input for the block being read and the one being merged, plus
  // the merged block. At least MIN_BLOCKS blocks, so reading the next one overlaps merging this one even
  // when everything would fit in memory at once (one partial: a single block would be read, then merged).
  const fitting = Math.floor(memoryBytes / (layout.bytesPerPosition * (2 * keys.length + 1)));
  const blockPositions = Math.max(1, Math.min(Math.ceil(positions / MIN_BLOCKS), fitting));
  const finalize = opts.finalize ?? true;
  const T = (dim * (dim + 1)) / 2;

  await fs.mkdir(opts.dir, { recursive: true });
  const accumulatorFile = path.join(opts.dir, ACCUMULATOR_FILE);
  const meanFile = path.join(opts.dir, MEAN_FILE);
  const invCholeskyFile = path.join(opts.dir, INV_CHOLESKY_FILE);
  const accOut = await fs.open(accumulatorFile, 'w');
  const meanOut = finalize ? await fs.open(meanFile, 'w') : null;
  const factorOut = finalize ? await fs.open(invCholeskyFile, 'w') : null;
  const crcs = headers.map(() => 0);
  let mergedCrc = 0;
  const pool = finalize ? new FinalizePool(opts.threads) : null;
  // One input merged is that input again: the file is hashed as it is written, so it can be copied
  // server-side rather than uploaded.
  const storedHeader = keys.length === 1 ? await store.getRange(keys[0], 0, ACCUMULATOR_HEADER_BYTES) : null;
  const sameHash = storedHeader ? createHash('sha256').update(storedHeader) : null;
  let sameAs: MergeResult['sameAs'];
  try {
    const readBlock = (start: number, end: number) => {
      const reading = readBlockOfAll(store, keys, headers, start, end, layout.bytesPerPosition, opts.readConcurrency ?? 8);
      // Read ahead while the previous block is merged: its failure surfaces where it is awaited, and must
      // not count as unhandled meanwhile (that ends the process) nor when the merge fails first.
      reading.catch(() => undefined);
      return reading;
    };
    let next: Promise<Uint8Array[]> | null = readBlock(0, Math.min(positions, blockPositions));
    for (let start = 0; start < positions; start += blockPositions) {
      const end = Math.min(positions, start + blockPositions);
      const payloads = await next!;
      next = end < positions ? readBlock(end, Math.min(positions, end + blockPositions)) : null;
      // The first input is the start of the merge as it is; the others are merged into it.
      const meta = (i: number) => ({ positions: end - start, dim, count: headers[i].count });
      const merged: GaussianAccumulator = decodeAccumulatorPayload(payloads[0], meta(0));
      payloads.forEach((payload, i) => {
        crcs[i] = crc32(payload, crcs[i]);
        if (i > 0) mergeInto(merged, decodeAccumulatorPayload(payload, meta(i)));
      });
      // One input: the merged bytes are its bytes (decoding and encoding float64 is exact).
      const mergedBytes = keys.length === 1 ? payloads[0] : encodeAccumulatorPayload(merged);
      mergedCrc = keys.length === 1 ? crcs[0] : crc32(mergedBytes, mergedCrc);
      sameHash?.update(mergedBytes);
      await accOut.write(mergedBytes, 0, mergedBytes.length, ACCUMULATOR_HEADER_BYTES + start * layout.bytesPerPosition);
      if (pool) {
        // On the pool's threads, so the event loop stays free (job locks keep renewing) and the next
        // block's read goes on meanwhile.
        const { mean, invCholesky: factor } = await pool.finalize(merged, {
          regularization: opts.regularization ?? COVARIANCE_REGULARIZATION,
          firstPosition: start,
        });
        await meanOut!.write(new Uint8Array(mean.buffer), 0, mean.byteLength, start * dim * 4);
        await factorOut!.write(new Uint8Array(factor.buffer), 0, factor.byteLength, start * T * 4);
      }
      opts.onProgress?.(end, positions);
    }
    headers.forEach((h, i) => {
      if (crcs[i] !== h.payloadCrc32) throw new Error(`${keys[i]}: payload CRC-32 mismatch (stored data is corrupted)`);
    });
    const header = encodeAccumulatorHeader({ positions, dim, count }, mergedCrc);
    await accOut.write(header, 0, ACCUMULATOR_HEADER_BYTES, 0);
    if (storedHeader && sameHash && Buffer.from(header).equals(storedHeader)) {
      sameAs = { key: keys[0], sha256: sameHash.digest('hex'), bytes: layout.totalBytes };
    }
  } finally {
    await Promise.all([accOut.close(), meanOut?.close(), factorOut?.close(), pool?.close()]);
  }
  return {
    positions,
    dim,
    count,
    blockPositions,
    accumulatorFile,
    sameAs,
    meanFile: finalize ? meanFile : undefined,
    invCholeskyFile: finalize ? invCholeskyFile : undefined,
  };
}

async function readBlockOfAll(
  store: BlobStore,
  keys: string[],
  headers: AccumulatorHeader[],
  start: number,
  end: number,
  bytesPerPosition: number,
  concurrency: number,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(keys.length);
  let nextIndex = 0;
  const from = headers[0].headerBytes + start * bytesPerPosition;
  const to = headers[0].headerBytes + end * bytesPerPosition;
  const worker = async () => {
    while (nextIndex < keys.length) {
      const i = nextIndex++;
      const bytes = await store.getRange(keys[i], from, to);
      if (bytes.length !== to - from) throw new Error(`${keys[i]}: short read of positions [${start}, ${end}): ${bytes.length} of ${to - from} bytes`);
      out[i] = bytes;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return out;
}
