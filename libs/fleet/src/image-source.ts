import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DatasetSource, S3Connection } from '@padim-fleet/contracts';
import { ImageReader, UnreadableImageError, isImageFileName, listImagesRecursive } from '@padim-fleet/inference';
import { BlobNotFoundError, BlobStore, S3BlobStore } from '@padim-fleet/storage';

/** Where a run's images are: a server folder (references are paths) or an S3 prefix (references are keys). */
export interface ImageSource {
  readonly location: string;
  /** Every image below the location, sorted. */
  list(): Promise<string[]>;
  /** Reads an image by reference; undefined when references are local paths. */
  readonly read?: ImageReader;
  close(): Promise<void>;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** `store` is the fleet's own store, for the 'store' kind (uploaded archives); it is not closed with the source. */
export function openImageSource(source: DatasetSource, s3: S3Connection, store?: BlobStore): ImageSource {
  if (source.kind === 'folder') return folderImageSource(source.root);
  if (source.kind === 'store') {
    if (!store) throw new Error(`images in the fleet's store (${source.prefix}) need the store`);
    return { ...s3ImageSource(store, source.prefix, `store:${source.prefix}`), close: async () => undefined };
  }
  const bucket = new S3BlobStore({ ...s3, bucket: source.bucket });
  return s3ImageSource(bucket, source.prefix, `s3://${source.bucket}/${source.prefix}`);
}

function folderImageSource(root: string): ImageSource {
  return {
    location: root,
    list: () => listImagesRecursive(root),
    close: async () => undefined,
  };
}

export function s3ImageSource(store: BlobStore, prefix: string, location: string): ImageSource {
  return {
    location,
    async list() {
      const keys: string[] = [];
      for await (const info of store.list(prefix)) if (isImageFileName(info.key)) keys.push(info.key);
      return keys.sort();
    },
    read: storeImageReader(store),
    close: async () => {
      await store.close?.();
    },
  };
}

/**
 * Reads images by key from `store`. A key gone since it was listed is that image's error; any other
 * failure (the store unreachable) is thrown, so the job is retried rather than skipping a good image.
 */
export function storeImageReader(store: BlobStore): ImageReader {
  return (key) =>
    store.get(key).catch((error: Error) => {
      throw error instanceof BlobNotFoundError ? new UnreadableImageError(error.message) : error;
    });
}

/**
 * A server folder is readable only below one of the configured dataset roots, compared after
 * resolving links, so a request cannot name /etc or climb out with a symlink.
 */
export async function checkServerFolder(folder: string, roots: string[], field: string): Promise<string> {
  if (roots.length === 0) throw new DatasetError(`${field}: server folders are disabled (PADIM_DATASET_ROOTS is empty); use an s3:// prefix`);
  let real: string;
  try {
    real = await fs.realpath(folder);
  } catch {
    throw new DatasetError(`${field}: ${folder} does not exist`);
  }
  if (!(await fs.stat(real)).isDirectory()) throw new DatasetError(`${field}: ${folder} is not a folder`);
  for (const root of roots) {
    const realRoot = await fs.realpath(root).catch(() => null);
    if (realRoot && (real === realRoot || real.startsWith(realRoot + path.sep))) return real;
  }
  throw new DatasetError(`${field}: ${folder} is not under an allowed dataset root (PADIM_DATASET_ROOTS)`);
}
