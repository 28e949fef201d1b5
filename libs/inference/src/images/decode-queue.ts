import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeImage } from './decode-image';

/** Fetches an image's bytes by reference (an object key, say) when it is not a local file. */
export type ImageReader = (ref: string) => Promise<Buffer>;

export type DecodedItem<T> = { item: T; file: string; image: PixelImage; error?: undefined } | { item: T; file: string; image?: undefined; error: string };

/**
 * Decodes files in order with up to `concurrency` decodes in flight, so decoding overlaps the
 * backbone. Failures are yielded as per-file errors, not thrown.
 */
export async function* decodeInOrder<T extends { file: string }>(
  items: T[],
  size: { width: number; height: number },
  opts: { concurrency?: number; pixelLimit?: number; read?: ImageReader } = {},
): AsyncGenerator<DecodedItem<T>> {
  const read = opts.read;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const pending: Promise<DecodedItem<T>>[] = [];
  let next = 0;
  const start = (item: T): Promise<DecodedItem<T>> =>
    (read ? read(item.file) : Promise.resolve(item.file))
      .then((input) => decodeImage(input, size, { pixelLimit: opts.pixelLimit, label: item.file }))
      .then(
      (image) => ({ item, file: item.file, image }),
      (error: Error) => ({ item, file: item.file, error: error.message }),
    );
  while (next < items.length && pending.length < concurrency) pending.push(start(items[next++]));
  while (pending.length > 0) {
    const result = await pending.shift()!;
    if (next < items.length) pending.push(start(items[next++]));
    yield result;
  }
}
