import sharp from 'sharp';
import { mulberry32, resizePil } from '@padim-fleet/padim-core';
import { decodeImage, decodeMask } from './decode-image';

const size = { width: 8, height: 8 };

async function png(channels: 1 | 3 | 4, fill: number[], opts: { width?: number; bits16?: boolean; palette?: boolean } = {}): Promise<Buffer> {
  const w = opts.width ?? 16;
  const raw = Buffer.alloc(w * w * channels);
  for (let i = 0; i < w * w; i++) for (let c = 0; c < channels; c++) raw[i * channels + c] = fill[c];
  let img = sharp(raw, { raw: { width: w, height: w, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  if (opts.bits16) img = img.toColourspace('rgb16');
  return img.png({ palette: opts.palette ?? false }).toBuffer();
}

describe('decodeImage', () => {
  it('resizes RGB to the requested size', async () => {
    const img = await decodeImage(await png(3, [200, 100, 50]), size);
    expect([img.width, img.height, img.channels]).toEqual([8, 8, 3]);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([200, 100, 50]);
  });

  it('keeps grey as one channel and drops alpha from RGBA', async () => {
    const grey = await decodeImage(await png(1, [77]), size);
    expect(grey.channels).toBe(1);
    expect(grey.data[0]).toBe(77);
    const rgba = await decodeImage(await png(4, [10, 20, 30, 128]), size);
    expect(rgba.channels).toBe(3);
    // Premultiplied resampling may round by one level.
    Array.from(rgba.data.subarray(0, 3)).forEach((v, i) => expect(Math.abs(v - [10, 20, 30][i])).toBeLessThanOrEqual(1));
  });

  it('turns 16-bit and palette PNGs and CMYK JPEGs into 8-bit sRGB', async () => {
    const deep = await decodeImage(await png(3, [255, 0, 0], { bits16: true }), size);
    expect(deep.data.length).toBe(8 * 8 * deep.channels);
    expect(deep.data[0]).toBeGreaterThan(250);
    const palette = await decodeImage(await png(3, [0, 0, 255], { palette: true }), size);
    expect(palette.channels).toBe(3);
    expect(palette.data[2]).toBeGreaterThan(250);
    const cmyk = await sharp(await png(3, [0, 255, 0])).toColourspace('cmyk').jpeg().toBuffer();
    const fromCmyk = await decodeImage(cmyk, size);
    expect(fromCmyk.channels).toBe(3);
    expect(fromCmyk.data[1]).toBeGreaterThan(fromCmyk.data[0]);
  });

  it('resizes as Pillow does, for PNGs on the fast path and for other formats through sharp', async () => {
    const next = mulberry32(11);
    const raw = Buffer.from(Array.from({ length: 40 * 30 * 3 }, () => Math.floor(next() * 256)));
    const expected = Array.from(resizePil(raw, 40, 30, 3, 8, 8));
    const fromPng = await decodeImage(await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer(), size);
    expect(Array.from(fromPng.data)).toEqual(expected);
    // Lossless WebP goes through sharp: the same pixels, so the same resize.
    const fromWebp = await decodeImage(await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).webp({ lossless: true }).toBuffer(), size);
    expect(Array.from(fromWebp.data)).toEqual(expected);
  });

  it('names the input and the problem for bad files', async () => {
    const flipped = Buffer.from(await png(3, [9, 8, 7], { width: 32 }));
    flipped[flipped.length - 20] ^= 0xff; // inside the last IDAT: its CRC no longer matches
    await expect(decodeImage(flipped, size, { label: 'flipped.png' })).rejects.toThrow(/flipped.png: corrupt or truncated image \(PNG: .*CRC/);
    await expect(decodeImage(Buffer.alloc(0), size, { label: 'empty.png' })).rejects.toThrow('empty.png: empty file (0 bytes)');
    await expect(decodeImage(Buffer.from('hello, not an image'), size, { label: 'notes.txt' })).rejects.toThrow(/notes.txt: not a supported image/);
    const good = await png(3, [1, 2, 3], { width: 64 });
    await expect(decodeImage(good.subarray(0, good.length / 2), size, { label: 'cut.png' })).rejects.toThrow(/cut.png: /);
    await expect(decodeImage(good, size, { label: 'big.png', pixelLimit: 100 })).rejects.toThrow(/big.png: image is larger than the pixel limit/);
    await expect(decodeImage('/nonexistent/file.png', size)).rejects.toThrow(/\/nonexistent\/file.png: file not found/);
  });
});

describe('decodeMask', () => {
  it('binarises at 127 with nearest resizing', async () => {
    const raw = Buffer.alloc(16 * 16);
    for (let y = 0; y < 16; y++) for (let x = 8; x < 16; x++) raw[y * 16 + x] = 255;
    const mask = await decodeMask(await sharp(raw, { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer(), size);
    expect(Array.from(mask.subarray(0, 8))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });
});
