import { Normalization, PixelImage, writeNormalizedChw } from '@padim-fleet/padim-core';
import { ImageReader, decodeInOrder } from '../images/decode-queue';

export interface BatchOptions {
  /** Images are resized to size×size, then optionally centre-cropped to `crop`. */
  size: number;
  crop?: number | null;
  normalization: Normalization;
  batchSize: number;
  decodeConcurrency?: number;
  pixelLimit?: number;
  /** Keep each image's decoded pixels (for heatmap overlays). */
  keepPixels?: boolean;
  /** Reads an item's bytes; default: `file` is a local path. */
  read?: ImageReader;
}

/** How images are read and prepared for the backbone. */
export interface InputOptions {
  size?: number;
  crop?: number | null;
  batchSize?: number;
  pixelLimit?: number;
  /** Reads an image's bytes by reference; default: references are local paths. */
  read?: ImageReader;
}

export interface ImageBatch<T> {
  items: T[];
  /** NCHW float32; only the first n images are valid. */
  tensor: Float32Array;
  n: number;
  pixels: PixelImage[];
  failures: { item: T; error: string }[];
}

/** Buffers in rotation: one in the backbone, one being filled, one being consumed. */
const BUFFER_COUNT = 3;

/**
 * Decodes files (in order, with decodes in flight ahead of the consumer) into normalised NCHW batches.
 * Files that fail to decode are reported in the batch they fall in and never stop the stream.
 */
export async function* imageBatches<T extends { file: string }>(items: T[], opts: BatchOptions): AsyncGenerator<ImageBatch<T>> {
  const side = opts.crop ?? opts.size;
  const plane = 3 * side * side;
  const buffers = Array.from({ length: BUFFER_COUNT }, () => new Float32Array(opts.batchSize * plane));
  let turn = 0;
  let batch: ImageBatch<T> = { items: [], tensor: buffers[turn], n: 0, pixels: [], failures: [] };
  const concurrency = opts.decodeConcurrency ?? Math.max(2, opts.batchSize);
  for await (const decoded of decodeInOrder(items, { width: opts.size, height: opts.size }, { concurrency, pixelLimit: opts.pixelLimit, read: opts.read })) {
    if (decoded.error !== undefined) {
      batch.failures.push({ item: decoded.item, error: decoded.error });
      continue;
    }
    writeNormalizedChw(decoded.image, opts.normalization, batch.tensor, batch.n, opts.crop ?? undefined);
    batch.items.push(decoded.item);
    if (opts.keepPixels) batch.pixels.push(decoded.image);
    batch.n++;
    if (batch.n === opts.batchSize) {
      yield batch;
      turn = (turn + 1) % BUFFER_COUNT;
      batch = { items: [], tensor: buffers[turn], n: 0, pixels: [], failures: [] };
    }
  }
  if (batch.n > 0 || batch.failures.length > 0) yield batch;
}
