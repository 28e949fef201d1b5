/** The storage port: a flat namespace of immutable-on-write blobs under '/'-separated keys. */

export interface BlobInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  contentType?: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Byte after the last one (exclusive). */
  end: number;
}

export type BlobBody = Uint8Array | string | NodeJS.ReadableStream;

export interface BlobStore {
  /** 'file:///abs/folder' or 's3://bucket/prefix' — for logs and errors. */
  readonly location: string;
  /** Readers see either the previous object or the whole new one, never a part. */
  put(key: string, body: BlobBody, opts?: PutOptions): Promise<{ size: number }>;
  /** The whole blob; BlobNotFoundError when missing. */
  get(key: string): Promise<Buffer>;
  /** Bytes [start, end), exactly end - start of them; BlobRangeError when the range is not inside the blob. */
  getRange(key: string, start: number, end: number): Promise<Buffer>;
  /** A stream of the blob or of bytes [start, end); BlobNotFoundError / BlobRangeError before streaming. */
  openRead(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream>;
  /** null when missing. */
  head(key: string): Promise<BlobInfo | null>;
  /** Every blob under prefix (recursive), in key order (UTF-8 byte order, as S3 lists). */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** The "folders" directly under prefix (delimiter '/'), each ending with '/', in key order. */
  listPrefixes(prefix: string): Promise<string[]>;
  /**
   * Copies a blob to another key within the store, server-side where the store can (no bytes pass
   * through this process); readers of `toKey` see the previous object or the whole copy.
   * BlobNotFoundError when `fromKey` is missing.
   */
  copy(fromKey: string, toKey: string): Promise<{ size: number }>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Deletes every blob under prefix and returns how many; refuses the empty prefix. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Discards writes that never finished and were started more than `olderThanMs` ago: a crashed
   * writer's incomplete multipart uploads (S3 keeps and bills their parts until aborted) or temporary
   * files (local folder). Returns how many. Writes still in progress are younger than any sane bound.
   */
  abortStaleWrites(olderThanMs: number, now?: number): Promise<number>;
  /** Readiness: throws with a clear message when the store is unreachable. */
  ping(): Promise<void>;
  close?(): Promise<void>;
}

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(
    readonly location: string,
    readonly key: string,
  ) {
    super(`blob ${JSON.stringify(key)} not found in ${location}`);
  }
}

/** The store did not answer (connection refused or cut, time-out) or answered with a server error: retry later. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * How a job that failed because the store was unavailable says so in its failure reason, a string by the
 * time it reaches whoever waits on the job: the API then answers 503 (retry), not 502 (the worker failed).
 */
const STORE_UNAVAILABLE_REASON = 'store unavailable: ';

/** The error a job throws when the store was unavailable, its message marked for isStoreUnavailableReason. */
export function storeUnavailableForWaiter(error: StoreUnavailableError): StoreUnavailableError {
  return error.message.startsWith(STORE_UNAVAILABLE_REASON)
    ? error
    : new StoreUnavailableError(`${STORE_UNAVAILABLE_REASON}${error.message}`, { cause: error });
}

export function isStoreUnavailableReason(reason: string): boolean {
  return reason.startsWith(STORE_UNAVAILABLE_REASON);
}

export class BlobRangeError extends RangeError {
  override readonly name = 'BlobRangeError';
  constructor(
    readonly location: string,
    readonly key: string,
    readonly start: number,
    readonly end: number,
    readonly size: number | undefined,
  ) {
    super(`byte range [${start}, ${end}) of ${JSON.stringify(key)} in ${location} is not inside the blob` + (size === undefined ? '' : ` (size ${size})`));
  }
}

/** Throws a plain RangeError for a range that can never be valid (negative, reversed, fractional). */
export function checkRangeArguments(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range [${start}, ${end}): need integers with 0 <= start <= end`);
  }
}

export function toBuffer(body: Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

export function isReadableStream(body: BlobBody): body is NodeJS.ReadableStream {
  return typeof body === 'object' && body !== null && !(body instanceof Uint8Array) && typeof (body as NodeJS.ReadableStream).pipe === 'function';
}

/** Compares keys the way S3 lists them: by UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
