import { Readable } from 'node:stream';
import type { BlobStore } from './blob-store';

/** A streamed body went past its byte limit: the write was abandoned at the first byte over, nothing stored. */
export class SizeLimitError extends Error {
  override readonly name = 'SizeLimitError';
  constructor(
    readonly what: string,
    readonly limit: number,
  ) {
    super(`${what}: larger than the limit of ${limit} bytes`);
  }
}

/**
 * Streams `source` into the store under `key`, counting its bytes: past `maxBytes` the write is abandoned
 * (the store keeps the previous object, or none) with a SizeLimitError naming `what`. When the source
 * itself fails, its own error is thrown rather than the store's report of it, so callers can tell a bad
 * upload from a failing store.
 */
export async function putLimited(
  store: BlobStore,
  key: string,
  source: AsyncIterable<Buffer>,
  opts: { maxBytes?: number; what?: string } = {},
): Promise<{ size: number }> {
  let sourceError: unknown;
  let bytes = 0;
  async function* counted(): AsyncGenerator<Buffer, void, undefined> {
    try {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (opts.maxBytes !== undefined && bytes > opts.maxBytes) throw new SizeLimitError(opts.what ?? key, opts.maxBytes);
        yield chunk;
      }
    } catch (error) {
      sourceError = error;
      throw error;
    }
  }
  try {
    return await store.put(key, Readable.from(counted()));
  } catch (error) {
    throw sourceError ?? error;
  }
}
