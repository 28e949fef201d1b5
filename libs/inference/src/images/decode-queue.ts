import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeImage } from './decode-image';

export type DecodedItem<T> = { item: T; file: string; image: PixelImage; error?: undefined } | { item: T; file: string; image?: undefined; error: string };

/**
 * Decodes files in order with up to `concurrency` decodes in flight, so decoding overlaps the
 * backbone. Failures are yielded as per-file errors, not thrown.
 */
export async function* decodeInOrder<T extends { file: string }>(
  items: T[],
  size: { width: number; height: number },
  opts: { concurrency?: number; pixelLimit?: number } = {},
): AsyncGenerator<DecodedItem<T>> {
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const pending: Promise<DecodedItem<T>>[] = [];
  let next = 0;
  const start = (item: T): Promise<DecodedItem<T>> =>
    decodeImage(item.file, size, { pixelLimit: opts.pixelLimit }).then(
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
