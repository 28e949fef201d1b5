import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListMultipartUploadsCommandOutput,
  PutObjectCommand,
  UploadPartCopyCommand,
  S3Client,
  type DeleteObjectsCommandOutput,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  BlobNotFoundError,
  BlobRangeError,
  checkRangeArguments,
  isReadableStream,
  toBuffer,
  type BlobBody,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  StoreUnavailableError,
} from './blob-store';
import { pipeInto } from './hashing';
import { InvalidKeyError, validateKey, validatePrefix } from './keys';

export interface S3BlobStoreOptions {
  /** e.g. http://127.0.0.1:7480; AWS's own endpoint when omitted. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket ('a/b' and 'a/b/' are the same); everything lives below it. */
  prefix?: string;
  /** Static credentials; the SDK's default provider chain when omitted. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (http://host/bucket/key): needed for radosgw and most self-hosted servers. */
  forcePathStyle?: boolean;
  /** Buffers up to this size go in one PutObject; larger bodies and all streams use multipart parts of this size. Default 16 MiB, at least 5 MiB. */
  partSize?: number;
  /** Parts uploaded in parallel (memory: about queueSize x partSize). Default 4. */
  queueSize?: number;
  /** Blobs larger than this are copied part by part (UploadPartCopy). Default and maximum: 5 GiB, S3's limit. */
  copyPartSize?: number;
  /** SDK attempts per request, so a briefly unavailable server is retried. Default 5. */
  maxAttempts?: number;
  /** ListObjectsV2 page size (MaxKeys), 1..1000. Default 1000. */
  listPageSize?: number;
  /** TCP connect timeout in ms. Default 5000. */
  connectionTimeoutMs?: number;
  /** Idle time after which a request in flight fails. @defaultValue 120000 */
  requestTimeoutMs?: number;
}

const MIB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MIB;
/** S3's limit for one CopyObject, and for one part of a multipart copy. */
const MAX_COPY_BYTES = 5 * 1024 * MIB;
const DELETE_BATCH = 1000;

interface ServiceErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function errorShape(err: unknown): ServiceErrorShape {
  return typeof err === 'object' && err !== null ? (err as ServiceErrorShape) : {};
}

function errorName(err: unknown): string | undefined {
  const e = errorShape(err);
  return e.name ?? e.Code;
}

function httpStatus(err: unknown): number | undefined {
  return errorShape(err).$metadata?.httpStatusCode;
}

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A server error (5xx), or no answer at all: the connection refused, cut or timed out. */
function isUnavailable(err: unknown, status: number | undefined): boolean {
  if (status !== undefined) return status >= 500;
  const code = (errorShape(err) as { code?: string }).code;
  const name = errorName(err);
  const message = err instanceof Error ? err.message : '';
  // The SDK wraps Node's socket errors, whose code then shows only in the message.
  return (
    (code !== undefined && NETWORK_ERROR_CODES.has(code)) ||
    name === 'TimeoutError' ||
    /socket hang up|\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)\b/.test(message)
  );
}

function isMissingBucket(err: unknown): boolean {
  return errorName(err) === 'NoSuchBucket';
}

function isMissingKey(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(err) === 404 && !isMissingBucket(err));
}

function isInvalidRange(err: unknown): boolean {
  return errorName(err) === 'InvalidRange' || httpStatus(err) === 416;
}

function stripQuotes(etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '') return undefined;
  return etag.replace(/^"|"$/g, '');
}

/** "bytes 0-9/1234" → 1234 */
function sizeFromContentRange(contentRange: string | undefined): number | undefined {
  const m = contentRange ? /\/(\d+)\s*$/.exec(contentRange) : null;
  return m ? Number(m[1]) : undefined;
}

class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

function bodyStream(out: GetObjectCommandOutput): Readable {
  const body: unknown = out.Body;
  if (body instanceof Readable) return body;
  if (body === undefined) return Readable.from([]);
  throw new Error('S3 response body is not a Node.js stream (is this running outside Node?)');
}

async function readAll(stream: Readable, expected?: number): Promise<Buffer> {
  if (expected !== undefined) {
    // Filled as the chunks arrive, so a large object (2.5 GB of factors) is never held twice, as its
    // chunks and their concatenation; a body of another length is left to the callers' length checks.
    const out = Buffer.allocUnsafe(expected);
    let at = 0;
    const overflow: Buffer[] = [];
    for await (const chunk of stream) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      const fits = Math.min(bytes.length, expected - at);
      bytes.copy(out, at, 0, fits);
      at += fits;
      if (fits < bytes.length) overflow.push(bytes.subarray(fits));
    }
    return overflow.length > 0 ? Buffer.concat([out, ...overflow]) : out.subarray(0, at);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** Blobs as objects in one S3 bucket (below an optional prefix), over @aws-sdk/client-s3. */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  readonly bucket: string;
  /** '' or ending with '/'. */
  readonly prefix: string;
  readonly client: S3Client;
  private readonly endpointLabel: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly copyPartSize: number;
  private readonly listPageSize: number;

  constructor(options: S3BlobStoreOptions) {
    if (!options.bucket) throw new Error('S3BlobStore: bucket is required');
    const rawPrefix = options.prefix ?? '';
    validatePrefix(rawPrefix, 'S3 store prefix');
    this.prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
    this.bucket = options.bucket;
    this.location = `s3://${this.bucket}/${this.prefix}`.replace(/\/$/, '');
    this.endpointLabel = options.endpoint ?? `AWS S3 (${options.region})`;
    this.partSize = options.partSize ?? 16 * MIB;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new Error(`S3BlobStore: partSize must be an integer of at least ${MIN_PART_SIZE} bytes (S3's minimum part size)`);
    }
    this.queueSize = options.queueSize ?? 4;
    this.copyPartSize = options.copyPartSize ?? MAX_COPY_BYTES;
    if (!Number.isSafeInteger(this.copyPartSize) || this.copyPartSize < MIN_PART_SIZE || this.copyPartSize > MAX_COPY_BYTES) {
      throw new Error(`S3BlobStore: copyPartSize must be an integer from ${MIN_PART_SIZE} to ${MAX_COPY_BYTES} bytes`);
    }
    this.listPageSize = options.listPageSize ?? 1000;
    if (!Number.isSafeInteger(this.listPageSize) || this.listPageSize < 1 || this.listPageSize > 1000) {
      throw new Error('S3BlobStore: listPageSize must be an integer in 1..1000');
    }
    const credentials =
      options.accessKeyId !== undefined && options.secretAccessKey !== undefined
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials,
      maxAttempts: options.maxAttempts ?? 5,
      // The default (WHEN_SUPPORTED) sends aws-chunked bodies with trailing checksums, which
      // self-hosted servers such as radosgw reject (MissingContentLength) or store with the framing.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // requestTimeout is the socket's idle limit: a server that stops answering mid-request (a full
      // or wedged gateway) fails the call, to be retried, instead of hanging the job forever.
      requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 5000, requestTimeout: options.requestTimeoutMs ?? 120_000 },
    });
  }

  private objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  private describe(op: string, key: string | undefined, err: unknown): Error {
    const what = key === undefined ? this.location : `${JSON.stringify(key)} in ${this.location}`;
    if (isMissingBucket(err)) return new Error(`S3 ${op} ${what}: bucket "${this.bucket}" does not exist at ${this.endpointLabel}`, { cause: err });
    const status = httpStatus(err);
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const message = `S3 ${op} ${what} at ${this.endpointLabel} failed${status ? ` (HTTP ${status})` : ''}: ${detail}`;
    return isUnavailable(err, status) ? new StoreUnavailableError(message, { cause: err }) : new Error(message, { cause: err });
  }

  async put(key: string, body: BlobBody, opts?: PutOptions): Promise<{ size: number }> {
    const Key = this.objectKey(key);
    const ContentType = opts?.contentType;
    if (!isReadableStream(body)) {
      const data = toBuffer(body);
      try {
        if (data.length <= this.partSize) {
          await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length, ContentType }));
        } else {
          await this.upload(Key, data, ContentType);
        }
      } catch (err) {
        throw this.describe('put', key, err);
      }
      return { size: data.length };
    }
    // Streams go through multipart upload: the object appears only when it completes, and only
    // about queueSize x partSize bytes are held in memory at a time.
    const counter = pipeInto(body, new ByteCounter());
    try {
      await this.upload(Key, counter, ContentType);
    } catch (err) {
      counter.destroy();
      throw this.describe('put', key, err);
    }
    return { size: counter.bytes };
  }

  private async upload(Key: string, Body: Buffer | Readable, ContentType: string | undefined): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body, ContentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async copy(fromKey: string, toKey: string): Promise<{ size: number }> {
    this.objectKey(toKey);
    const size = await this.sizeOf(fromKey);
    const CopySource = encodeURI(`${this.bucket}/${this.objectKey(fromKey)}`);
    const Key = this.objectKey(toKey);
    try {
      if (size <= this.copyPartSize) {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key, CopySource }));
        return { size };
      }
      // One CopyObject takes at most 5 GiB (a resnet50 d=550 accumulator is about that): larger blobs are
      // copied part by part, still server-side; the object appears when the upload completes.
      const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
      try {
        const Parts: { ETag?: string; PartNumber: number }[] = [];
        for (let start = 0, PartNumber = 1; start < size; start += this.copyPartSize, PartNumber++) {
          const end = Math.min(size, start + this.copyPartSize);
          const out = await this.client.send(
            new UploadPartCopyCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, CopySource, CopySourceRange: `bytes=${start}-${end - 1}` }),
          );
          Parts.push({ ETag: out.CopyPartResult?.ETag, PartNumber });
        }
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts } }));
      } catch (err) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined);
        throw err;
      }
      return { size };
    } catch (err) {
      if (isMissingKey(err)) throw new BlobNotFoundError(this.location, fromKey);
      throw this.describe('copy to', toKey, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    const Key = this.objectKey(key);
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isMissingKey(err)) throw new BlobNotFoundError(this.location, key);
      throw this.describe('get', key, err);
    }
    return readAll(bodyStream(out), out.ContentLength);
  }

  private async sizeOf(key: string): Promise<number> {
    const info = await this.head(key);
    if (!info) throw new BlobNotFoundError(this.location, key);
    return info.size;
  }

  /** GetObject for bytes [start, end) (end > start); the body has exactly end - start bytes or this throws. */
  private async getRangeObject(key: string, start: number, end: number): Promise<Readable> {
    const Key = this.objectKey(key);
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range: `bytes=${start}-${end - 1}` }));
    } catch (err) {
      if (isMissingKey(err)) throw new BlobNotFoundError(this.location, key);
      if (isInvalidRange(err)) throw new BlobRangeError(this.location, key, start, end, await this.sizeOf(key).catch(() => undefined));
      throw this.describe('get range of', key, err);
    }
    const stream = bodyStream(out);
    // A range running past the end is answered with the bytes that exist (206), not an error.
    if (out.ContentLength !== end - start) {
      stream.destroy();
      throw new BlobRangeError(this.location, key, start, end, sizeFromContentRange(out.ContentRange));
    }
    return stream;
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    this.objectKey(key);
    checkRangeArguments(start, end);
    if (start === end) {
      // HTTP cannot ask for zero bytes; the range is valid when it lies inside the blob.
      const size = await this.sizeOf(key);
      if (end > size) throw new BlobRangeError(this.location, key, start, end, size);
      return Buffer.alloc(0);
    }
    const data = await readAll(await this.getRangeObject(key, start, end), end - start);
    if (data.length !== end - start) throw new BlobRangeError(this.location, key, start, end, undefined);
    return data;
  }

  async openRead(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    const Key = this.objectKey(key);
    if (range) {
      checkRangeArguments(range.start, range.end);
      if (range.start === range.end) {
        await this.getRange(key, range.start, range.end);
        return Readable.from([]);
      }
      return this.getRangeObject(key, range.start, range.end);
    }
    try {
      return bodyStream(await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key })));
    } catch (err) {
      if (isMissingKey(err)) throw new BlobNotFoundError(this.location, key);
      throw this.describe('open', key, err);
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { key, size: out.ContentLength ?? 0, etag: stripQuotes(out.ETag), lastModified: out.LastModified };
    } catch (err) {
      if (isMissingKey(err)) return null;
      throw this.describe('head', key, err);
    }
  }

  async abortStaleWrites(olderThanMs: number, now = Date.now()): Promise<number> {
    const cutoff = now - olderThanMs;
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let out: ListMultipartUploadsCommandOutput;
      try {
        out = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
      } catch (err) {
        throw this.describe('ListMultipartUploads', this.prefix, err);
      }
      for (const u of out.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() >= cutoff) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          aborted++;
        } catch (err) {
          // Completed or aborted meanwhile: nothing left to discard.
          if (errorName(err) !== 'NoSuchUpload') throw this.describe('AbortMultipartUpload', u.Key.slice(this.prefix.length), err);
        }
      }
      if (!out.IsTruncated) return aborted;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    validatePrefix(prefix);
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token, MaxKeys: this.listPageSize }),
        );
      } catch (err) {
        throw this.describe('list', prefix, err);
      }
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, etag: stripQuotes(o.ETag), lastModified: o.LastModified };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const found: string[] = [];
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            Delimiter: '/',
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (err) {
        throw this.describe('list folders of', prefix, err);
      }
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) found.push(p.Prefix.slice(this.prefix.length));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isMissingKey(err)) return;
      throw this.describe('delete', key, err);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    validatePrefix(prefix);
    if (prefix === '') throw new InvalidKeyError(`refusing to delete every blob in ${this.location} (empty prefix)`);
    let count = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const keys = batch;
      batch = [];
      let out: DeleteObjectsCommandOutput;
      try {
        out = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
      } catch (err) {
        throw this.describe('delete under', prefix, err);
      }
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `S3 delete under ${JSON.stringify(prefix)} in ${this.location}: ${failed.length} of ${keys.length} objects not deleted ` +
            `(first: ${first.Key}: ${first.Code} ${first.Message ?? ''})`,
        );
      }
      count += keys.length - (out.Errors?.length ?? 0);
    };
    for await (const info of this.list(prefix)) {
      batch.push(this.prefix + info.key);
      if (batch.length >= DELETE_BATCH) await flush();
    }
    await flush();
    return count;
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = httpStatus(err);
      if (status === 404 || isMissingBucket(err)) {
        throw new Error(`S3 store ${this.location} is not ready: bucket "${this.bucket}" does not exist at ${this.endpointLabel}`, { cause: err });
      }
      if (status === 403) {
        throw new Error(`S3 store ${this.location} is not ready: access denied at ${this.endpointLabel} (check the credentials)`, { cause: err });
      }
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new Error(`S3 store ${this.location} is unreachable at ${this.endpointLabel}: ${detail}`, { cause: err });
    }
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (httpStatus(err) !== 404 && !isMissingBucket(err) && errorName(err) !== 'NotFound') throw this.describe('check bucket', undefined, err);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (errorName(err) === 'BucketAlreadyOwnedByYou') return;
      throw this.describe('create bucket', undefined, err);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
