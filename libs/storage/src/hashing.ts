import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** A pass-through stream that counts bytes and computes their SHA-256 as they flow. */
export class Sha256Stream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private hex: string | undefined;
  private count = 0;

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.hash.update(bytes);
    this.count += bytes.length;
    callback(null, bytes);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    callback();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** Hex SHA-256 of everything that passed; only once the input has ended. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('sha256 is only known after the stream has ended');
    return this.hex;
  }
}

export function sha256Stream(): Sha256Stream {
  return new Sha256Stream();
}

/** Bytes given to the hash at a time: one update of 2 GiB or more fails ("data is too long"). */
const HASH_CHUNK_BYTES = 256 * 1024 ** 2;

export function sha256Hex(data: Uint8Array | string): string {
  const hash = createHash('sha256');
  if (typeof data === 'string') return hash.update(data).digest('hex');
  for (let at = 0; at < data.length; at += HASH_CHUNK_BYTES) hash.update(data.subarray(at, at + HASH_CHUNK_BYTES));
  return hash.digest('hex');
}

function ignore(): void {}

/**
 * Pipes source into target and forwards a source error to target, so whoever consumes target sees
 * the failure instead of waiting forever (plain .pipe() does not propagate errors). The consumer may
 * start reading later: target keeps the error as its errored state, which pipeline() and for-await
 * report, and a no-op listener keeps an early 'error' event from crashing the process meanwhile.
 */
export function pipeInto<T extends NodeJS.ReadWriteStream>(source: NodeJS.ReadableStream, target: T): T {
  target.on('error', ignore);
  source.once('error', (err: Error) => {
    const destroyable = target as unknown as { destroy?: (error?: Error) => void };
    if (typeof destroyable.destroy === 'function') destroyable.destroy(err);
    else target.emit('error', err);
  });
  source.pipe(target);
  return target;
}
