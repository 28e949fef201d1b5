import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from './blob-store';
import { LocalBlobStore } from './local-blob-store';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store';

export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export interface S3Location {
  bucket: string;
  prefix: string;
}

/** 's3://bucket/optional/prefix' → { bucket, prefix }; null for anything that is not an s3:// URL. */
export function parseS3Url(spec: string): S3Location | null {
  if (!spec.startsWith('s3://')) return null;
  const rest = spec.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw new Error(`store ${JSON.stringify(spec)}: no bucket name after s3://`);
  return { bucket, prefix };
}

/**
 * A store from a location spec: 's3://bucket/optional/prefix' is S3 with the given settings;
 * a file:// URL or anything else is a local folder (resolved against the working directory).
 */
export function createBlobStore(spec: string, s3: S3Settings, extra: Partial<S3BlobStoreOptions> = {}): BlobStore {
  const loc = parseS3Url(spec);
  if (loc) return new S3BlobStore({ ...extra, ...s3, bucket: loc.bucket, prefix: loc.prefix });
  if (spec.startsWith('file://')) return new LocalBlobStore(fileURLToPath(spec));
  if (spec === '') throw new Error('store location is empty (give a folder or s3://bucket/prefix)');
  return new LocalBlobStore(path.resolve(spec));
}

/**
 * createBlobStore, then, for S3, the bucket is created if it does not exist yet. A failure there
 * (no permission to create buckets, say) goes to `warn` instead of stopping the process: the
 * readiness probe reports an unusable store.
 */
export async function openBlobStore(spec: string, s3: S3Settings, warn: (message: string) => void): Promise<BlobStore> {
  const store = createBlobStore(spec, s3);
  if (store instanceof S3BlobStore) await store.ensureBucket().catch((error: Error) => warn(`store ${spec}: ${error.message}`));
  return store;
}
