import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeImage } from './decode-image';

/**
 * Fetches an image's bytes by reference (an object key, say) when it is not a local file. It throws
 * UnreadableImageError for an input that itself cannot be read (gone since it was listed): a per-file
 * error, as a corrupt image is. Any other error (the store unreachable) fails the whole decode, so the
 * job is retried instead of recording a good image as failed or training without it.
 */
export type ImageReader = (ref: string) => Promise<Buffer>;

/** An input that cannot be read for a reason of its own: reported for that file, the others go on. */
export class UnreadableImageError extends Error {
  override name = 'UnreadableImageError';
}

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
