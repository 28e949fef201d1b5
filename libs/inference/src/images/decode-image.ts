import sharp from 'sharp';
import type { PixelImage } from '@padim-fleet/padim-core';

/** Images above this many pixels are refused before decoding (decompression bombs). */
export const DEFAULT_PIXEL_LIMIT = 100_000_000;

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(readonly source: string, reason: string) {
    super(`${source}: ${reason}`);
  }
}

function describeSource(input: string | Buffer, label?: string): string {
  return label ?? (typeof input === 'string' ? input : `<${input.length}-byte buffer>`);
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/unsupported image format/i.test(message)) return 'not a supported image (PNG, JPEG, WebP, TIFF, GIF, AVIF)';
  if (/pixel limit/i.test(message)) return `image is larger than the pixel limit`;
  if (/Input file is missing/i.test(message)) return 'file not found';
  // libvips sometimes loses the reason of a failed read of a cut-off file and reports "Unknown error".
  if (/premature end|truncat|corrupt|bad|invalid|VipsJpeg|pngload|vipspng|read error|^unknown error/i.test(message)) return `corrupt or truncated image (${message.split('\n')[0]})`;
  return message.split('\n')[0];
}

/**
 * Decodes an image to 8-bit pixels at `width`×`height` (stretched, as torchvision's Resize((h, w)),
 * with a triangle filter: the antialiased bilinear of PIL). Grey stays one channel; palette, CMYK and
 * 16-bit inputs become 8-bit sRGB; alpha is dropped. Decoding runs on libuv's pool, off the event loop.
 */
export async function decodeImage(
  input: string | Buffer,
  size: { width: number; height: number },
  opts: { pixelLimit?: number; label?: string } = {},
): Promise<PixelImage> {
  const label = describeSource(input, opts.label);
  if (Buffer.isBuffer(input) && input.length === 0) throw new ImageDecodeError(label, 'empty file (0 bytes)');
  try {
    const image = sharp(input, { limitInputPixels: opts.pixelLimit ?? DEFAULT_PIXEL_LIMIT, failOn: 'error', sequentialRead: true });
    const meta = await image.metadata();
    const grey = meta.channels !== undefined && meta.channels <= 2 && meta.space !== 'cmyk' && !meta.isPalette;
    let pipeline = image.rotate().removeAlpha();
    pipeline = grey ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline
      .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const channels = info.channels as PixelImage['channels'];
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels };
  } catch (error) {
    throw new ImageDecodeError(label, reasonOf(error));
  }
}

/** Decodes a ground-truth mask to a 0/1 array at the given size (nearest neighbour, > 127 is anomalous). */
export async function decodeMask(input: string | Buffer, size: { width: number; height: number }, label?: string): Promise<Uint8Array> {
  const name = describeSource(input, label);
  try {
    const { data } = await sharp(input, { failOn: 'error' })
      .toColourspace('b-w')
      .resize(size.width, size.height, { fit: 'fill', kernel: 'nearest' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const mask = new Uint8Array(size.width * size.height);
    for (let i = 0; i < mask.length; i++) mask[i] = data[i] > 127 ? 1 : 0;
    return mask;
  } catch (error) {
    throw new ImageDecodeError(name, reasonOf(error));
  }
}
