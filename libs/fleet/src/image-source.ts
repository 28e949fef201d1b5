import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  type DatasetSource,
  ImageReader,
  RESERVED_STORE_PREFIXES,
  type S3Connection,
  UnreadableImageError,
  isImageFileName,
  listImagesRecursive,
  listMvtecTestSet,
  touchesReservedPrefixes,
} from '@padim-fleet/contracts';
import { BlobNotFoundError, BlobStore, S3BlobStore } from '@padim-fleet/storage';

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
    read: storeImageReader(store, maxImageBytes),
    close: async () => {
      await store.close?.();
    },
  };
}

function isWithin(file: string, root: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** True when `real` is in a local store's reserved prefixes, or is the store or a folder above it (a listing would include them). */
function reachesStorePrefixes(real: string, realStore: string): boolean {
  if (isWithin(realStore, real)) return true;
  return isWithin(real, realStore) && touchesReservedPrefixes(path.relative(realStore, real));
}

/**
 * Reads images by key from `store`, none larger than `maxBytes`. A key gone since it was listed, or an
 * object over the limit, is that image's error; any other failure (the store unreachable) is thrown, so
 * the job is retried rather than skipping a good image.
 */
export function storeImageReader(store: BlobStore, maxBytes: number = DEFAULT_IMAGE_MAX_BYTES): ImageReader {
  return (key) =>
    readImageObject(store, key, maxBytes).catch((error: Error) => {
      throw error instanceof BlobNotFoundError ? new UnreadableImageError(error.message) : error;
    });
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
      if (length > maxBytes) throw new UnreadableImageError(`${key}: larger than ${maxBytes} bytes (IMAGE_MAX_BYTES)`);
      parts.push(chunk);
    }
  } finally {
    stream.destroy?.();
  }
  return Buffer.concat(parts, length);
}

/**
 * A server path is readable only below one of the configured dataset roots. It is resolved first
 * (`..` folds away: `/data/x/../y` is `/data/y`), compared with the roots as spelled and as resolved
 * before anything is read there, so that the answer for a path outside them is the same whether it
 * exists or not, and compared again after resolving links, so that a symlink cannot lead out.
 * A local store's own prefixes (`storeFolder`, when the store is a folder that may lie under a root)
 * are out of bounds as they are for `store:` inputs, and so are the folders above them.
 * Returns the real path: the one to read from then on.
 */
export async function checkServerPath(file: string, roots: string[], field: string, storeFolder?: string): Promise<string> {
  if (roots.length === 0) throw new DatasetError(`${field}: server folders are disabled (PADIM_DATASET_ROOTS is empty); use an s3:// prefix`);
  const outside = new DatasetError(`${field}: ${file} is not under an allowed dataset root (PADIM_DATASET_ROOTS)`);
  const resolvedRoots = roots.map((root) => path.resolve(root));
  const realRoots = (await Promise.all(resolvedRoots.map((root) => fs.realpath(root).catch(() => null)))).filter((r): r is string => r !== null);
  const resolved = path.resolve(file);
  if (![...resolvedRoots, ...realRoots].some((root) => isWithin(resolved, root))) throw outside;
  let real: string;
  try {
    real = await fs.realpath(resolved);
  } catch {
    throw new DatasetError(`${field}: ${file} does not exist`);
  }
  if (!realRoots.some((root) => isWithin(real, root))) throw outside;
  const realStore = storeFolder ? await fs.realpath(storeFolder).catch(() => null) : null;
  if (realStore && reachesStorePrefixes(real, realStore)) {
    throw new DatasetError(`${field}: ${file} must not name the fleet's own prefixes (${RESERVED_STORE_PREFIXES.join(', ')}) of its store`);
  }
  return real;
}

/** checkServerPath for a folder. */
export async function checkServerFolder(folder: string, roots: string[], field: string, storeFolder?: string): Promise<string> {
  const real = await checkServerPath(folder, roots, field, storeFolder);
  if (!(await fs.stat(real)).isDirectory()) throw new DatasetError(`${field}: ${folder} is not a folder`);
  return real;
}

/**
 * A validation set (MVTec's layout) is read through its `test/` and `ground_truth/` folders, which may
 * be links of their own: they, and every image and mask the set lists, must be under the roots too.
 * Returns the set's real path, the one the run reads.
 */
export async function checkValidationSet(folder: string, roots: string[], storeFolder?: string): Promise<string> {
  const real = await checkServerFolder(folder, roots, 'validation', storeFolder);
  for (const name of ['test', 'ground_truth']) {
    const inner = path.join(real, name);
    if (
      await fs.lstat(inner).then(
        () => true,
        () => false,
      )
    )
      await checkServerPath(inner, roots, 'validation', storeFolder);
  }
  let items: Awaited<ReturnType<typeof listMvtecTestSet>>;
  try {
    items = await listMvtecTestSet(real);
  } catch (error) {
    throw new DatasetError(`validation: ${(error as Error).message}`);
  }
  for (const item of items) for (const file of [item.file, item.mask]) if (file) await checkServerPath(file, roots, 'validation', storeFolder);
  return real;
}
