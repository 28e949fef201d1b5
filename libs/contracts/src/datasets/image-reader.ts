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
