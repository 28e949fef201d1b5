import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  ACCUMULATOR_HEADER_BYTES,
  AccumulatorHeader,
  GaussianAccumulator,
  accumulatorLayout,
  encodeAccumulatorHeader,
  encodeAccumulatorPayload,
  readAccumulatorHeader,
} from '@padim-fleet/padim-core';
import type { BlobStore } from '@padim-fleet/storage';

/** Positions encoded per chunk: a few MB at d=100, so a partial streams without a second full copy. */
function chunkPositions(dim: number): number {
  const bytes = accumulatorLayout(1, dim).bytesPerPosition;
  return Math.max(1, Math.floor((8 << 20) / bytes));
}

/**
 * The serialised accumulator as a stream, chunk by chunk, never the whole byte image at once. The
 * header carries the payload's CRC, so the payload is encoded twice: once to checksum, once to send.
 */
export function accumulatorStream(acc: GaussianAccumulator): { stream: Readable; bytes: number } {
  const step = chunkPositions(acc.dim);
  let crc = 0;
  for (let p = 0; p < acc.positions; p += step) crc = crc32(encodeAccumulatorPayload(acc, p, Math.min(acc.positions, p + step)), crc);
  const header = encodeAccumulatorHeader(acc, crc);
  function* chunks(): Generator<Uint8Array> {
    yield header;
    for (let p = 0; p < acc.positions; p += step) yield encodeAccumulatorPayload(acc, p, Math.min(acc.positions, p + step));
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), bytes: accumulatorLayout(acc.positions, acc.dim).totalBytes };
}

export async function readStoredAccumulatorHeader(store: BlobStore, key: string): Promise<AccumulatorHeader> {
  try {
    return readAccumulatorHeader(await store.getRange(key, 0, ACCUMULATOR_HEADER_BYTES));
  } catch (error) {
    throw new Error(`${key}: ${(error as Error).message}`);
  }
}
