import { deflateSync, inflateSync } from 'node:zlib';
import sharp, { type PngOptions } from 'sharp';
import { mulberry32, resizePil } from '@padim-fleet/padim-core';
import { handPng, pngChunk } from '../testing/hand-png';
import { decodePngFast, parsePngForFastPath } from './png-fast-decode';

type Channels = 1 | 2 | 3 | 4;

/** Pixels that make libpng's adaptive filtering pick every filter type: gradients, flat areas, noise. */
function testPixels(width: number, height: number, channels: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  const px = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const kind = Math.floor(y / 8) % 4;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const i = (y * width + x) * channels + c;
        if (kind === 0) px[i] = Math.floor(rnd() * 256);
        else if (kind === 1) px[i] = (x * 3 + y * 5 + c * 40) & 0xff;
        else if (kind === 2) px[i] = (x * y + c) & 0xff;
        else px[i] = (x + Math.floor(rnd() * 4) + c * 9) & 0xff;
      }
    }
  }
  return px;
}

function encode(px: Uint8Array, width: number, height: number, channels: Channels, opts: PngOptions = {}): Promise<Buffer> {
  const image = sharp(px, { raw: { width, height, channels } });
  // Grey raw input is written as RGB unless told otherwise.
  return (channels <= 2 ? image.toColourspace('b-w') : image).png({ adaptiveFiltering: true, ...opts }).toBuffer();
}

function withoutAlpha(px: Uint8Array, channels: Channels): Uint8Array {
  if (channels === 1 || channels === 3) return px;
  const keep = channels - 1;
  const n = px.length / channels;
  const out = new Uint8Array(n * keep);
  for (let i = 0; i < n; i++) for (let c = 0; c < keep; c++) out[i * keep + c] = px[i * channels + c];
  return out;
}

interface Chunk {
  type: string;
  offset: number;
  length: number;
}

function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.length);
  const list: Chunk[] = [];
  for (let off = 8; off + 8 <= png.length;) {
    const length = view.getUint32(off);
    list.push({ type: Buffer.from(png.subarray(off + 4, off + 8)).toString('latin1'), offset: off, length });
    off += 12 + length;
  }
  return list;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

describe('parsePngForFastPath and decodePngFast', () => {
  const W = 67;
  const H = 45;

  it.each([1, 2, 3, 4] as const)('decode sharp-encoded PNGs with %i channel(s) to the original pixels, alpha dropped', async (channels) => {
    const px = testPixels(W, H, channels, channels);
    const filters = new Set<number>();
    for (const compressionLevel of [0, 1, 6, 9]) {
      const png = await encode(px, W, H, channels, { compressionLevel });
      const parsed = parsePngForFastPath(png);
      expect(parsed).not.toBeNull();
      expect([parsed!.width, parsed!.height, parsed!.channels]).toEqual([W, H, channels]);
      const raw = inflateSync(parsed!.idat);
      for (let y = 0; y < H; y++) filters.add(raw[y * (1 + W * channels)]);
      const img = await decodePngFast(png, { width: W, height: H });
      expect([img.width, img.height, img.channels]).toEqual([W, H, channels < 3 ? 1 : 3]);
      expect(same(img.data, withoutAlpha(px, channels))).toBe(true);
      // The parsed form decodes the same.
      expect(same((await decodePngFast(parsed!, { width: W, height: H })).data, img.data)).toBe(true);
    }
    // The images exercised every filter type (compressionLevel 0 writes filter None).
    expect([...filters].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('concatenates several IDAT chunks', async () => {
    const px = testPixels(300, 200, 3, 9);
    const png = await encode(px, 300, 200, 3, { compressionLevel: 0 });
    expect(chunks(png).filter((c) => c.type === 'IDAT').length).toBeGreaterThan(1);
    const img = await decodePngFast(png, { width: 300, height: 200 });
    expect(same(img.data, px)).toBe(true);
  });

  it.each([1, 2, 3, 4] as const)('resizes with resizePil (%i channels), dropping alpha before or after', async (channels) => {
    const px = testPixels(W, H, channels, 20 + channels);
    const png = await encode(px, W, H, channels);
    const flat = withoutAlpha(px, channels);
    const c = channels < 3 ? 1 : 3;
    for (const [w, h] of [
      [16, 11],
      [100, 50],
      [W, 20],
    ]) {
      const img = await decodePngFast(png, { width: w, height: h });
      expect([img.width, img.height, img.channels]).toEqual([w, h, c]);
      expect(same(img.data, resizePil(flat, W, H, c, w, h))).toBe(true);
    }
  });

  it.each([1, 2, 3, 4] as const)('decodes a band of rows at a time above the full-decode budget, to the same bytes (%i channels)', async (channels) => {
    const px = testPixels(W, H, channels, 30 + channels);
    for (const compressionLevel of [0, 6]) {
      const png = await encode(px, W, H, channels, { compressionLevel });
      for (const [w, h] of [
        [16, 11],
        [100, 50],
        [W, 20],
        [30, H],
        [W, H],
      ]) {
        const whole = await decodePngFast(png, { width: w, height: h });
        for (const bandRows of [1, 2, 7, 16, H]) {
          const banded = await decodePngFast(png, { width: w, height: h }, { fullDecodeMaxPixels: W * H - 1, bandRows });
          expect([banded.width, banded.height, banded.channels]).toEqual([w, h, whole.channels]);
          expect(same(banded.data, whole.data)).toBe(true);
        }
      }
    }
  });

  it('return null for 16-bit, palette and interlaced PNGs, and for ones with an ICC profile', async () => {
    const px = testPixels(20, 20, 3, 3);
    const rgb = sharp(px, { raw: { width: 20, height: 20, channels: 3 } });
    const deep = await rgb.clone().toColourspace('rgb16').png().toBuffer();
    expect(deep[24]).toBe(16); // IHDR bit depth
    expect(parsePngForFastPath(deep)).toBeNull();
    const grey16 = await sharp(testPixels(20, 20, 1, 4), { raw: { width: 20, height: 20, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    expect([grey16[24], grey16[25]]).toEqual([16, 0]);
    expect(parsePngForFastPath(grey16)).toBeNull();
    const palette = await rgb.clone().png({ palette: true }).toBuffer();
    expect(palette[25]).toBe(3); // IHDR colour type
    expect(parsePngForFastPath(palette)).toBeNull();
    const interlaced = await rgb.clone().png({ progressive: true }).toBuffer();
    expect(interlaced[28]).toBe(1); // IHDR interlace method
    expect(parsePngForFastPath(interlaced)).toBeNull();
    const icc = await rgb.clone().withIccProfile('p3').png().toBuffer();
    expect(chunks(icc).map((c) => c.type)).toContain('iCCP');
    expect(parsePngForFastPath(icc)).toBeNull();
    // An unknown critical chunk.
    expect(parsePngForFastPath(handPng(1, 1, 0, deflateSync(Uint8Array.of(0, 0)), [pngChunk('ZZZZ', Uint8Array.of(1))]))).toBeNull();
  });

  it('return null for files that are not PNGs, and decodePngFast says so', async () => {
    const jpeg = await sharp(testPixels(8, 8, 3, 1), { raw: { width: 8, height: 8, channels: 3 } })
      .jpeg()
      .toBuffer();
    for (const bytes of [jpeg, Buffer.from('not an image at all'), Buffer.alloc(0), Buffer.from([0x89, 0x50, 0x4e])]) {
      expect(parsePngForFastPath(bytes)).toBeNull();
      await expect(decodePngFast(bytes, { width: 4, height: 4 })).rejects.toThrow(/not an 8-bit, non-interlaced grey or RGB\(A\) PNG/);
    }
  });

  describe('corrupt files', () => {
    let png: Buffer;
    let idat: Chunk;
    beforeAll(async () => {
      png = await encode(testPixels(W, H, 1, 5), W, H, 1);
      idat = chunks(png).find((c) => c.type === 'IDAT')!;
    });

    it('name the chunk whose CRC fails (a flipped byte in IDAT)', async () => {
      const bad = Buffer.from(png);
      bad[idat.offset + 8 + 10] ^= 0x20;
      const message = `PNG: CRC mismatch in the IDAT chunk at byte ${idat.offset}`;
      expect(() => parsePngForFastPath(bad)).toThrow(message);
      await expect(decodePngFast(bad, { width: 8, height: 8 })).rejects.toThrow(message);
    });

    it('leave the IDAT CRCs to the decoder when deferred: a corrupt stream still names the chunk, an intact one decodes', async () => {
      const bad = Buffer.from(png);
      bad[idat.offset + 8 + 10] ^= 0x20;
      const parsed = parsePngForFastPath(bad, { deferImageDataCrc: true })!;
      expect(parsed).not.toBeNull();
      const message = `PNG: CRC mismatch in the IDAT chunk at byte ${idat.offset}`;
      expect(() => parsed.checkImageDataCrc()).toThrow(message);
      await expect(decodePngFast(parsed, { width: 8, height: 8 })).rejects.toThrow(message);
      // Only the stored CRC is wrong: zlib's check of the data passes, and the pixels are the file's.
      const crcOnly = Buffer.from(png);
      crcOnly[idat.offset + 8 + idat.length] ^= 0x01;
      const expected = await decodePngFast(png, { width: 8, height: 8 });
      expect(same((await decodePngFast(parsePngForFastPath(crcOnly, { deferImageDataCrc: true })!, { width: 8, height: 8 })).data, expected.data)).toBe(true);
      expect(() => parsePngForFastPath(crcOnly)).toThrow(message);
      // Chunks other than IDAT are still checked while parsing.
      const badHeader = Buffer.from(png);
      badHeader[8 + 8 + 12] ^= 0x01;
      expect(() => parsePngForFastPath(badHeader, { deferImageDataCrc: true })).toThrow('PNG: CRC mismatch in the IHDR chunk at byte 8');
    });

    it('name the chunk a truncated file ends in, or the missing IEND', () => {
      expect(() => parsePngForFastPath(png.subarray(0, idat.offset + 100))).toThrow(
        new RegExp(`^PNG: the file ends inside the IDAT chunk at byte ${idat.offset} .*truncated`),
      );
      expect(() => parsePngForFastPath(png.subarray(0, idat.offset + 4))).toThrow(`the file ends inside a chunk header at byte ${idat.offset}`);
      const iend = chunks(png).find((c) => c.type === 'IEND')!;
      expect(() => parsePngForFastPath(png.subarray(0, iend.offset))).toThrow(`PNG: the file ends after ${iend.offset} bytes without an IEND chunk`);
      expect(() => parsePngForFastPath(png.subarray(0, 20))).toThrow('the file ends inside the IHDR chunk at byte 8');
    });

    it('report a corrupt zlib stream, image data of the wrong length and bad filter types', async () => {
      const rows = Uint8Array.of(0, 1, 2, 3, 0, 4, 5, 6); // 3×2 grey
      const good = handPng(3, 2, 0, deflateSync(rows));
      expect(Array.from((await decodePngFast(good, { width: 3, height: 2 })).data)).toEqual([1, 2, 3, 4, 5, 6]);

      const z = deflateSync(rows);
      z[z.length - 1] ^= 0xff; // the Adler-32, with a valid chunk CRC
      await expect(decodePngFast(handPng(3, 2, 0, z), { width: 3, height: 2 })).rejects.toThrow(/^PNG: corrupt image data \(zlib: .*\)/);
      await expect(decodePngFast(handPng(3, 2, 0, deflateSync(rows).subarray(0, 6)), { width: 3, height: 2 })).rejects.toThrow(
        /^PNG: corrupt image data \(zlib: unexpected end of file\)/,
      );
      await expect(decodePngFast(handPng(3, 3, 0, deflateSync(rows)), { width: 3, height: 2 })).rejects.toThrow(
        'PNG: the image data inflates to 8 bytes, expected height·(1 + width·channels) = 3·(1 + 3·1) = 12',
      );
      await expect(decodePngFast(handPng(3, 1, 0, deflateSync(rows)), { width: 3, height: 2 })).rejects.toThrow(
        'PNG: the image data inflates to more than the expected height·(1 + width·channels) = 4 bytes',
      );
      await expect(decodePngFast(handPng(3, 2, 0, deflateSync(Uint8Array.of(0, 1, 2, 3, 7, 4, 5, 6))), { width: 3, height: 2 })).rejects.toThrow(
        'PNG: corrupt image data (unfilterPng: row 1 has filter type 7',
      );
    });

    it('report the same errors when decoded a band of rows at a time', async () => {
      const rows = Uint8Array.of(0, 1, 2, 3, 0, 4, 5, 6); // 3×2 grey
      const banded = { fullDecodeMaxPixels: 1, bandRows: 1 };
      expect(Array.from((await decodePngFast(handPng(3, 2, 0, deflateSync(rows)), { width: 3, height: 2 }, banded)).data)).toEqual([1, 2, 3, 4, 5, 6]);
      const z = deflateSync(rows);
      z[z.length - 1] ^= 0xff;
      await expect(decodePngFast(handPng(3, 2, 0, z), { width: 3, height: 2 }, banded)).rejects.toThrow(/^PNG: corrupt image data \(zlib: .*\)/);
      await expect(decodePngFast(handPng(3, 2, 0, deflateSync(rows).subarray(0, 6)), { width: 3, height: 2 }, banded)).rejects.toThrow(
        /^PNG: corrupt image data \(zlib: unexpected end of file\)/,
      );
      await expect(decodePngFast(handPng(3, 3, 0, deflateSync(rows)), { width: 3, height: 2 }, banded)).rejects.toThrow(
        'PNG: the image data inflates to 8 bytes, expected height·(1 + width·channels) = 3·(1 + 3·1) = 12',
      );
      await expect(decodePngFast(handPng(3, 1, 0, deflateSync(rows)), { width: 3, height: 2 }, banded)).rejects.toThrow(
        'PNG: the image data inflates to more than the expected height·(1 + width·channels) = 4 bytes',
      );
      await expect(decodePngFast(handPng(3, 2, 0, deflateSync(Uint8Array.of(0, 1, 2, 3, 7, 4, 5, 6))), { width: 3, height: 2 }, banded)).rejects.toThrow(
        'PNG: corrupt image data (unfilterPng: row 1 has filter type 7',
      );
    });

    it('refuse an IHDR with a zero size, a file without IDAT, and images over the pixel limit', async () => {
      expect(() => parsePngForFastPath(handPng(0, 2, 0, deflateSync(Uint8Array.of(0))))).toThrow('PNG: IHDR gives an impossible size 0×2');
      const noIdat = Buffer.concat([png.subarray(0, idat.offset), png.subarray(idat.offset + 12 + idat.length)]);
      expect(() => parsePngForFastPath(noIdat)).toThrow('PNG: no IDAT chunk');
      await expect(decodePngFast(png, { width: 8, height: 8 }, { pixelLimit: W * H - 1 })).rejects.toThrow('is larger than the pixel limit');
    });
  });
});
