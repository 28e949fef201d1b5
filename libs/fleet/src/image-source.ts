import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DatasetSource, S3Connection } from '@padim-fleet/contracts';
import { ImageReader, isImageFileName, listImagesRecursive } from '@padim-fleet/inference';
import { BlobStore, S3BlobStore } from '@padim-fleet/storage';

/** Where a run's images are: a server folder (references are paths) or an S3 prefix (references are keys). */
export interface ImageSource {
  readonly location: string;
  /** Every image below the location, sorted; more than `maxImages` is a DatasetError naming the location. */
  list(maxImages?: number): Promise<string[]>;
  /** Reads an image by reference; undefined when references are local paths. */
  readonly read?: ImageReader;
  close(): Promise<void>;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** Largest image object read from a store when the caller does not say (IMAGE_MAX_BYTES's default). */
export const DEFAULT_IMAGE_MAX_BYTES = 64 * 1024 ** 2;

/**
 * `store` is the fleet's own store, for the 'store' kind (uploaded archives); it is not closed with the
 * source. Objects larger than `maxImageBytes` are not read (an error for that image).
 */
export function openImageSource(source: DatasetSource, s3: S3Connection, store?: BlobStore, maxImageBytes = DEFAULT_IMAGE_MAX_BYTES): ImageSource {
  if (source.kind === 'folder') return folderImageSource(source.root);
  if (source.kind === 'store') {
    if (!store) throw new Error(`images in the fleet's store (${source.prefix}) need the store`);
    return { ...s3ImageSource(store, source.prefix, `store:${source.prefix}`, maxImageBytes), close: async () => undefined };
  }
  const bucket = new S3BlobStore({ ...s3, bucket: source.bucket });
  return s3ImageSource(bucket, source.prefix, `s3://${source.bucket}/${source.prefix}`, maxImageBytes);
}

function tooManyImages(location: string, maxImages: number): DatasetError {
  return new DatasetError(`dataset: more than ${maxImages} images under ${location} (DATASET_MAX_IMAGES)`);
}

function folderImageSource(root: string): ImageSource {
  return {
    location: root,
    async list(maxImages = Infinity) {
      const files = await listImagesRecursive(root);
      if (files.length > maxImages) throw tooManyImages(root, maxImages);
      return files;
    },
    close: async () => undefined,
  };
}

export function s3ImageSource(store: BlobStore, prefix: string, location: string, maxImageBytes = DEFAULT_IMAGE_MAX_BYTES): ImageSource {
  return {
    location,
    async list(maxImages = Infinity) {
      const keys: string[] = [];
      for await (const info of store.list(prefix)) {
        if (!isImageFileName(info.key)) continue;
        // Stop listing at the cap: a huge prefix costs at most maxImages / 1000 list pages.
        if (keys.length === maxImages) throw tooManyImages(location, maxImages);
        keys.push(info.key);
      }
      return keys.sort();
    },
    read: (key) => readImageObject(store, key, maxImageBytes),
    close: async () => {
      await store.close?.();
    },
  };
}

/**
 * Reads an image object whole, but no more than `maxBytes`: a larger one fails naming the key and the
 * limit once that much has streamed, so one huge object cannot fill a worker's memory.
 */
export async function readImageObject(store: BlobStore, key: string, maxBytes: number): Promise<Buffer> {
  const stream = (await store.openRead(key)) as NodeJS.ReadableStream & { destroy?: () => void };
  const parts: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > maxBytes) throw new Error(`${key}: larger than ${maxBytes} bytes (IMAGE_MAX_BYTES)`);
      parts.push(chunk);
    }
  } finally {
    stream.destroy?.();
  }
  return Buffer.concat(parts, length);
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
