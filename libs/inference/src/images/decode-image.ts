import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { type PixelImage, resizePil } from '@padim-fleet/padim-core';
import { DEFAULT_PIXEL_LIMIT, FULL_DECODE_MAX_PIXELS } from './pixel-limit';
import { FastPathPng, decodePngFast, parsePngForFastPath } from './png-fast-decode';

export { DEFAULT_PIXEL_LIMIT } from './pixel-limit';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(
    readonly source: string,
    reason: string,
  ) {
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
  if (/premature end|truncat|corrupt|bad|invalid|VipsJpeg|pngload|vipspng|read error|^unknown error/i.test(message))
    return `corrupt or truncated image (${message.split('\n')[0]})`;
  return message.split('\n')[0];
}

/**
 * Decodes an image to 8-bit pixels at `width`×`height`, resized as torchvision's Resize((h, w)) does on
 * PIL images: Pillow's `resize(size, BILINEAR)`, exactly (resizePil). Grey stays one channel;
 * palette, CMYK and 16-bit inputs become 8-bit sRGB; alpha is dropped; EXIF orientation is applied.
 * Plain 8-bit PNGs (the usual inspection images) take a fast path: inflated on libuv's pool, unfiltered
 * and resized in wasm, 4.7 ms of CPU for a 1024² grey image where sharp takes 11 to 14; everything
 * else is decoded by sharp, also off the event loop. A JPEG at least twice the target on each side is
 * decoded at reduced size (shrink-on-load) and resized by sharp, within a few grey levels of Pillow's
 * resize of the full image (`jpegShrinkOnLoad: false` keeps that exact path). Above FULL_DECODE_MAX_PIXELS neither path holds
 * the whole image: PNGs are decoded a band of rows at a time (same bytes), sharp resizes as it decodes.
 */
export async function decodeImage(
  input: string | Buffer,
  size: { width: number; height: number },
  opts: { pixelLimit?: number; label?: string; jpegShrinkOnLoad?: boolean } = {},
): Promise<PixelImage> {
  const label = describeSource(input, opts.label);
  const bytes = typeof input === 'string' ? await readImageFile(input, label) : input;
  if (bytes.length === 0) throw new ImageDecodeError(label, 'empty file (0 bytes)');
  const pixelLimit = opts.pixelLimit ?? DEFAULT_PIXEL_LIMIT;
  let png: FastPathPng | null;
  try {
    // The IDAT CRCs only when the stream turns out corrupt: zlib checks the inflated data itself.
    png = parsePngForFastPath(bytes, { deferImageDataCrc: true });
    if (png) return await decodePngFast(png, size, { pixelLimit });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ImageDecodeError(label, /pixel limit/.test(message) ? reasonOf(error) : `corrupt or truncated image (${message})`);
  }
  try {
    const image = sharp(bytes, { limitInputPixels: pixelLimit, failOn: 'error', sequentialRead: true });
    const meta = await image.metadata();
    const grey = meta.channels !== undefined && meta.channels <= 2 && meta.space !== 'cmyk' && !meta.isPalette;
    let pipeline = image.rotate().removeAlpha();
    pipeline = grey ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    // Above the budget, and for a JPEG that libjpeg can decode at a fraction of its size, sharp resizes
    // as it decodes ('linear' kernel, within a few grey levels of Pillow's).
    const shrinkOnLoad = (opts.jpegShrinkOnLoad ?? true) && meta.format === 'jpeg' && shrinksByHalf(meta, size);
    if (shrinkOnLoad || (meta.width ?? 0) * (meta.height ?? 0) > FULL_DECODE_MAX_PIXELS) {
      const { data, info } = await pipeline
        .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      return {
        data: new Uint8Array(data.buffer, data.byteOffset, data.length),
        width: info.width,
        height: info.height,
        channels: info.channels as PixelImage['channels'],
      };
    }
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels as 1 | 3;
    return { data: resizePil(data, info.width, info.height, channels, size.width, size.height), width: size.width, height: size.height, channels };
  } catch (error) {
    throw new ImageDecodeError(label, reasonOf(error));
  }
}

/**
 * Whether the image is at least twice the target on each side, whichever way its EXIF orientation turns
 * it: libjpeg then decodes it at 1/2, 1/4 or 1/8 scale (DCT scaling) before sharp's resize, which took a
 * third of the CPU of a full decode and Pillow's resize for a 1024² JPEG to 256².
 */
function shrinksByHalf(meta: { width?: number; height?: number }, size: { width: number; height: number }): boolean {
  const target = Math.max(size.width, size.height);
  return Math.min(meta.width ?? 0, meta.height ?? 0) >= 2 * target;
}

async function readImageFile(file: string, label: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new ImageDecodeError(label, code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : reasonOf(error));
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
