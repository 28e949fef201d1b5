import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { resizePil, resizePilByRows, unfilterPng } from '@padim-fleet/padim-core';
import { DEFAULT_PIXEL_LIMIT, FULL_DECODE_MAX_PIXELS } from './pixel-limit';

/** An 8-bit, non-interlaced, non-palette PNG, checked and ready to inflate. */
export interface FastPathPng {
  width: number;
  height: number;
  /** Bytes per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** The zlib stream: the IDAT chunks' data, concatenated. */
  idat: Uint8Array;
  /**
   * Checks the CRCs of the IDAT chunks where parsing deferred them (`deferImageDataCrc`): throws the
   * CRC mismatch of the first bad one; does nothing where they were checked while parsing.
   */
  checkImageDataCrc(): void;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS_OF_COLOUR_TYPE: Record<number, 1 | 2 | 3 | 4> = { 0: 1, 2: 3, 4: 2, 6: 4 };
/** Chunks after which sharp's pixels differ from the stored ones (it applies the ICC profile and the EXIF orientation). */
const SHARP_ONLY_CHUNKS = new Set(['iCCP', 'eXIf']);
const MAX_DIMENSION = 2 ** 31 - 1;

const inflate = promisify(zlib.inflate) as (buffer: Uint8Array, options: zlib.ZlibOptions) => Promise<Buffer>;

/**
 * Reads a PNG's chunks for the fast decode path: null (decode it with sharp instead) unless the file
 * starts with the PNG signature and an IHDR chunk for bit depth 8, colour type 0, 2, 4 or 6 (no
 * palette), compression and filter method 0 and no interlace, and has no chunk that makes sharp's
 * pixels differ from the stored ones (iCCP, eXIf) or that it does not know (an unknown critical
 * chunk, PLTE in a grey image). Every chunk's CRC is checked up to IEND, and the IDAT data
 * concatenated. With `deferImageDataCrc` the IDAT chunks' CRCs are left to `checkImageDataCrc`, for a
 * decoder that inflates the stream anyway: zlib's own Adler-32 of the inflated data and the expected
 * length catch a corrupt stream, and the CRCs then name the chunk (they took 0.1 ms of CPU for a 400 KB
 * stream, 2% of decoding a 1024² grey PNG).
 *
 * @throws Error naming the chunk and its offset when a CRC does not match, the file ends inside a
 *   chunk or before IEND, a chunk length or type is malformed, IHDR gives a zero size, or there is
 *   no IDAT
 */
export function parsePngForFastPath(bytes: Uint8Array, opts: { deferImageDataCrc?: boolean } = {}): FastPathPng | null {
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let header: Pick<FastPathPng, 'width' | 'height' | 'channels'> | null = null;
  const idat: Uint8Array[] = [];
  const deferredCrcs: number[] = [];
  let idatBytes = 0;
  let off = SIGNATURE.length;
  for (;;) {
    if (off + 8 > bytes.length) {
      throw new Error(
        off === bytes.length
          ? `PNG: the file ends after ${off} bytes without an IEND chunk (truncated)`
          : `PNG: the file ends inside a chunk header at byte ${off} (truncated)`,
      );
    }
    const length = view.getUint32(off);
    const type = String.fromCharCode(bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new Error(`PNG: corrupt chunk type ${JSON.stringify(type)} at byte ${off}`);
    if (length > MAX_DIMENSION) throw new Error(`PNG: the ${type} chunk at byte ${off} has an impossible length ${length}`);
    if (off + 12 + length > bytes.length) {
      throw new Error(
        `PNG: the file ends inside the ${type} chunk at byte ${off} (${length + 12} bytes with its header and CRC, ` + `${bytes.length - off} left; truncated)`,
      );
    }
    if (opts.deferImageDataCrc && type === 'IDAT') deferredCrcs.push(off);
    else checkChunkCrc(bytes, view, off, length, type);
    const data = bytes.subarray(off + 8, off + 8 + length);
    if (header === null) {
      if (type !== 'IHDR' || length !== 13) return null;
      const width = view.getUint32(off + 8);
      const height = view.getUint32(off + 12);
      const [bitDepth, colourType, compression, filter, interlace] = data.subarray(8, 13);
      if (width === 0 || height === 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
        throw new Error(`PNG: IHDR gives an impossible size ${width}×${height}`);
      }
      const channels = CHANNELS_OF_COLOUR_TYPE[colourType];
      if (bitDepth !== 8 || channels === undefined || compression !== 0 || filter !== 0 || interlace !== 0) return null;
      header = { width, height, channels };
    } else if (type === 'IDAT') {
      idat.push(data);
      idatBytes += length;
    } else if (type === 'IEND') {
      break;
    } else if (SHARP_ONLY_CHUNKS.has(type)) {
      return null;
    } else if (type === 'PLTE') {
      // A suggested palette is allowed in RGB images (and ignored); in grey ones it is an error.
      if (header.channels < 3) return null;
    } else if (isCritical(type)) {
      return null;
    }
    off += 12 + length;
  }
  if (idat.length === 0) throw new Error('PNG: no IDAT chunk (no image data)');
  let stream = idat[0];
  if (idat.length > 1) {
    stream = new Uint8Array(idatBytes);
    let at = 0;
    for (const part of idat) {
      stream.set(part, at);
      at += part.length;
    }
  }
  const checkImageDataCrc = () => {
    for (const at of deferredCrcs) checkChunkCrc(bytes, view, at, view.getUint32(at), 'IDAT');
  };
  return { ...header!, idat: stream, checkImageDataCrc };
}

function checkChunkCrc(bytes: Uint8Array, view: DataView, off: number, length: number, type: string): void {
  const stored = view.getUint32(off + 8 + length);
  const computed = zlib.crc32(bytes.subarray(off + 4, off + 8 + length));
  if (stored !== computed) {
    throw new Error(`PNG: CRC mismatch in the ${type} chunk at byte ${off} (stored ${hex(stored)}, computed ${hex(computed)}): corrupt file`);
  }
}

/**
 * Decodes a PNG that parsePngForFastPath accepts (pass its result to skip parsing again) to 8-bit
 * pixels at `size`, as decodeImage does with sharp but in fewer CPU cycles: the zlib stream inflated
 * on libuv's pool, then on the calling thread the filters undone and the image resized in wasm
 * (unfilterPng, resizePil: Pillow's `resize(size, BILINEAR)` exactly, as torchvision's Resize on PIL
 * images, where sharp's 'linear' differs by a few levels), alpha dropped (grey+alpha → grey, RGBA →
 * RGB). gAMA is ignored, as by sharp and Pillow; files with an ICC profile or EXIF never get here.
 *
 * Above `fullDecodeMaxPixels` (default FULL_DECODE_MAX_PIXELS) the image is never held whole: the
 * stream is inflated, unfiltered and resized a band of `bandRows` rows at a time (decodePngInBands),
 * to the same bytes.
 *
 * @throws Error when `bytes` is not such a PNG (decode it with sharp), is corrupt (CRC, truncated,
 *   zlib stream, image data of the wrong length, bad filter type), or has more than `pixelLimit`
 *   pixels (default DEFAULT_PIXEL_LIMIT)
 */
export async function decodePngFast(
  bytes: Uint8Array | FastPathPng,
  size: { width: number; height: number },
  opts: { pixelLimit?: number; fullDecodeMaxPixels?: number; bandRows?: number } = {},
): Promise<{ data: Uint8Array; width: number; height: number; channels: 1 | 3 }> {
  for (const [name, v] of [
    ['width', size.width],
    ['height', size.height],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`decodePngFast: size.${name} must be a positive integer, got ${v}`);
  }
  const png = ArrayBuffer.isView(bytes) ? parsePngForFastPath(bytes) : bytes;
  if (!png) throw new Error('PNG: not an 8-bit, non-interlaced grey or RGB(A) PNG without an ICC profile or EXIF; decode it with sharp');
  try {
    return await decodeParsedPng(png, size, opts);
  } catch (error) {
    // A corrupt stream is reported as the chunk whose CRC fails, where parsing left the IDAT CRCs unchecked.
    png.checkImageDataCrc();
    throw error;
  }
}

async function decodeParsedPng(
  png: FastPathPng,
  size: { width: number; height: number },
  opts: { pixelLimit?: number; fullDecodeMaxPixels?: number; bandRows?: number },
): Promise<{ data: Uint8Array; width: number; height: number; channels: 1 | 3 }> {
  const { width, height, channels } = png;
  if (width * height > (opts.pixelLimit ?? DEFAULT_PIXEL_LIMIT)) {
    throw new Error(`PNG: ${width}×${height} is larger than the pixel limit`);
  }
  if (width * height > (opts.fullDecodeMaxPixels ?? FULL_DECODE_MAX_PIXELS)) return decodePngInBands(png, size, opts.bandRows);
  const expected = height * (1 + width * channels);
  if (expected >= bufferConstants.MAX_LENGTH) throw new Error(`PNG: ${width}×${height}×${channels} is too large to decode`);
  let raw: Buffer;
  try {
    // One byte over the expected length is enough to tell "too long" from "right", and bounds a zlib
    // bomb. One output chunk of that size makes it one job on the pool instead of one per 16 KiB
    // (2.7 ms instead of 5.7 for a 1024² grey image).
    raw = await inflate(png.idat, { maxOutputLength: expected + 1, chunkSize: Math.max(expected + 1, zlib.constants.Z_MIN_CHUNK) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw inflatesTooLong(expected);
    throw new Error(`PNG: corrupt image data (zlib: ${(error as Error).message})`);
  }
  if (raw.length !== expected) throw inflatesWrongLength(png, raw.length);
  let pixels: Uint8Array;
  try {
    // Into a scratch buffer: resizePil copies it (or a dropAlpha copy) before this function yields.
    pixels = unfilterPng(raw, width, height, channels, scratch(width * height * channels));
  } catch (error) {
    throw new Error(`PNG: corrupt image data (${(error as Error).message})`);
  }
  const outChannels = channels < 3 ? 1 : 3;
  const shrinks = size.width * size.height < width * height;
  let data: Uint8Array;
  if (channels === outChannels) {
    data = resizePil(pixels, width, height, channels, size.width, size.height);
  } else if (shrinks) {
    // Channels are resampled independently, so dropping alpha after the resize is the same and cheaper.
    data = dropAlpha(resizePil(pixels, width, height, channels, size.width, size.height), channels as 2 | 4);
  } else {
    data = resizePil(dropAlpha(pixels, channels as 2 | 4), width, height, outChannels, size.width, size.height);
  }
  return { data, width: size.width, height: size.height, channels: outChannels };
}

/** The banded path inflates and unfilters about this many bytes of rows at a time (at least one row). */
const BAND_BYTES = 4 * 2 ** 20;
/** zlib's output chunk on the banded path: one job on libuv's pool per chunk. */
const INFLATE_CHUNK_BYTES = 2 ** 20;

/**
 * decodePngFast without ever holding the whole image: the zlib stream is inflated in chunks on
 * libuv's pool, and each band of `bandRows` rows is unfiltered (with the row above the band put in
 * front as a row of filter None, so the kernel sees the row the filters predict from) and handed to
 * resizePilByRows, which keeps only the rows its vertical pass still needs. Memory: a band, its
 * unfiltered copy and the kernels' copies, plus a few resized rows; the result is decodePngFast's,
 * byte for byte.
 */
async function decodePngInBands(
  png: FastPathPng,
  size: { width: number; height: number },
  bandRows = Math.max(1, Math.floor(BAND_BYTES / (1 + png.width * png.channels))),
): Promise<{ data: Uint8Array; width: number; height: number; channels: 1 | 3 }> {
  const { width, height, channels } = png;
  const rowLen = width * channels;
  const rawRow = rowLen + 1;
  const expected = height * rawRow;
  const resize = resizePilByRows(width, height, channels, size.width, size.height);
  bandRows = Math.min(bandRows, height);
  // Row slot 0 holds the row above the band (filter None), rows 1.. the band's raw rows.
  const band = new Uint8Array((bandRows + 1) * rawRow);
  const unfiltered = new Uint8Array((bandRows + 1) * rowLen);
  let bandFill = 0;
  let rowsDone = 0;
  const flush = () => {
    const rows = bandFill / rawRow;
    for (let i = 0; i < rows; i++) {
      const filter = band[(i + 1) * rawRow];
      if (filter > 4)
        throw new Error(`PNG: corrupt image data (unfilterPng: row ${rowsDone + i} has filter type ${filter}, expected 0..4 (None, Sub, Up, Average, Paeth))`);
    }
    const above = rowsDone === 0 ? 0 : 1;
    const raw = band.subarray((1 - above) * rawRow, (rows + 1) * rawRow);
    const pixels = unfilterPng(raw, width, rows + above, channels, unfiltered.subarray(0, (rows + above) * rowLen));
    resize.push(pixels.subarray(above * rowLen));
    band[0] = 0;
    band.set(pixels.subarray((rows + above - 1) * rowLen), 1);
    rowsDone += rows;
    bandFill = 0;
  };

  let inflated = 0;
  const inflater = zlib.createInflate({ chunkSize: INFLATE_CHUNK_BYTES });
  try {
    await new Promise<void>((resolve, reject) => {
      inflater.on('data', (chunk: Buffer) => {
        inflated += chunk.length;
        if (inflated > expected) return void inflater.destroy(inflatesTooLong(expected));
        try {
          for (let at = 0; at < chunk.length;) {
            const take = Math.min(chunk.length - at, bandRows * rawRow - bandFill);
            band.set(chunk.subarray(at, at + take), rawRow + bandFill);
            bandFill += take;
            at += take;
            if (bandFill === bandRows * rawRow) flush();
          }
        } catch (error) {
          inflater.destroy(error as Error);
        }
      });
      inflater.on('error', reject);
      inflater.on('end', resolve);
      inflater.end(png.idat);
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new Error(`PNG: corrupt image data (zlib: ${(error as Error).message})`);
    throw error;
  }
  if (inflated !== expected) throw inflatesWrongLength(png, inflated);
  if (bandFill > 0) flush();
  const data = resize.finish();
  return { data: channels === 2 || channels === 4 ? dropAlpha(data, channels) : data, width: size.width, height: size.height, channels: channels < 3 ? 1 : 3 };
}

function inflatesTooLong(expected: number): Error {
  return new Error(`PNG: the image data inflates to more than the expected height·(1 + width·channels) = ${expected} bytes: corrupt file`);
}

function inflatesWrongLength({ width, height, channels }: FastPathPng, length: number): Error {
  return new Error(
    `PNG: the image data inflates to ${length} bytes, expected height·(1 + width·channels) = ` +
      `${height}·(1 + ${width}·${channels}) = ${height * (1 + width * channels)}: corrupt or truncated file`,
  );
}

/** Scratch buffers up to this size are kept between calls (a fresh 1 MB buffer costs ~0.1–0.4 ms here). */
const SCRATCH_KEEP_BYTES = 64 * 2 ** 20;
let scratchBuffer = new Uint8Array(0);

function scratch(bytes: number): Uint8Array {
  if (bytes > SCRATCH_KEEP_BYTES) return new Uint8Array(bytes);
  if (scratchBuffer.length < bytes) scratchBuffer = new Uint8Array(bytes);
  return scratchBuffer.subarray(0, bytes);
}

/** Grey+alpha → grey, RGBA → RGB. */
function dropAlpha(src: Uint8Array, channels: 2 | 4): Uint8Array {
  const keep = channels - 1;
  const n = src.length / channels;
  const out = new Uint8Array(n * keep);
  if (keep === 1) {
    for (let i = 0; i < n; i++) out[i] = src[2 * i];
  } else {
    for (let i = 0, o = 0, s = 0; i < n; i++, o += 3, s += 4) {
      out[o] = src[s];
      out[o + 1] = src[s + 1];
      out[o + 2] = src[s + 2];
    }
  }
  return out;
}

function isCritical(type: string): boolean {
  return type.charCodeAt(0) < 0x61; // uppercase first letter
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
