import { type ImageReader, UnreadableImageError } from '@padim-fleet/contracts';
import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeImage } from './decode-image';

// Defined in contracts: the fleet's image sources read through them without the inference stack.
export { type ImageReader, UnreadableImageError };

export type DecodedItem<T> = { item: T; file: string; image: PixelImage; error?: undefined } | { item: T; file: string; image?: undefined; error: string };

/**
 * Decodes files in order with up to `concurrency` decodes in flight, so decoding overlaps the
 * backbone. Images that fail to decode are yielded as per-file errors; a reader's failure other than
 * UnreadableImageError is thrown.
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
  const start = (item: T): Promise<DecodedItem<T>> => {
    const decoded = (read ? read(item.file) : Promise.resolve(item.file)).then(
      (input) =>
        decodeImage(input, size, { pixelLimit: opts.pixelLimit, label: item.file }).then(
          (image): DecodedItem<T> => ({ item, file: item.file, image }),
          (error: Error): DecodedItem<T> => ({ item, file: item.file, error: error.message }),
        ),
      (error: Error): DecodedItem<T> => {
        if (error instanceof UnreadableImageError) return { item, file: item.file, error: error.message };
        throw error;
      },
    );
    // A failed read is thrown when its turn comes; until then it must not count as unhandled.
    decoded.catch(() => undefined);
    return decoded;
  };
  while (next < items.length && pending.length < concurrency) pending.push(start(items[next++]));
  while (pending.length > 0) {
    const result = await pending.shift()!;
    if (next < items.length) pending.push(start(items[next++]));
    yield result;
  }
}
