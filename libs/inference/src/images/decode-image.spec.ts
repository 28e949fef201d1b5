import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDeflate } from 'node:zlib';
import sharp from 'sharp';
import { mulberry32, resizePil } from '@padim-fleet/padim-core';
import { findRepoRoot } from '../config/paths';
import { handPng } from '../testing/hand-png';
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
    const cmyk = await sharp(await png(3, [0, 255, 0]))
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const fromCmyk = await decodeImage(cmyk, size);
    expect(fromCmyk.channels).toBe(3);
    expect(fromCmyk.data[1]).toBeGreaterThan(fromCmyk.data[0]);
  });

  it('resizes as Pillow does, for PNGs on the fast path and for other formats through sharp', async () => {
    const next = mulberry32(11);
    const raw = Buffer.from(Array.from({ length: 40 * 30 * 3 }, () => Math.floor(next() * 256)));
    const expected = Array.from(resizePil(raw, 40, 30, 3, 8, 8));
    const fromPng = await decodeImage(
      await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } })
        .png()
        .toBuffer(),
      size,
    );
    expect(Array.from(fromPng.data)).toEqual(expected);
    // Lossless WebP goes through sharp: the same pixels, so the same resize.
    const fromWebp = await decodeImage(
      await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } })
        .webp({ lossless: true })
        .toBuffer(),
      size,
    );
    expect(Array.from(fromWebp.data)).toEqual(expected);
  });

  it('decodes a JPEG at least twice the target at reduced size, within a few levels of the exact resize', async () => {
    // A smooth gradient with texture, as photographs are: JPEG's DCT scaling keeps it.
    const w = 96;
    const next = mulberry32(5);
    const raw = Buffer.from(Array.from({ length: w * w * 3 }, (_, i) => Math.floor(((i / 3) % w) * 2 + next() * 40)));
    const jpeg = await sharp(raw, { raw: { width: w, height: w, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const target = { width: 24, height: 24 };
    const fast = await decodeImage(jpeg, target);
    const exact = await decodeImage(jpeg, target, { jpegShrinkOnLoad: false });
    const full = await sharp(jpeg).raw().toBuffer();
    expect(Array.from(exact.data)).toEqual(Array.from(resizePil(full, w, w, 3, 24, 24)));
    const bySharp = await sharp(jpeg).resize(24, 24, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    expect(Array.from(fast.data)).toEqual(Array.from(bySharp));
    expect([fast.width, fast.height, fast.channels]).toEqual([24, 24, 3]);
    const diffs = Array.from(fast.data, (v, i) => Math.abs(v - exact.data[i]));
    expect(diffs.reduce((a, b) => a + b, 0) / diffs.length).toBeLessThan(1.5);
    expect(Math.max(...diffs)).toBeLessThanOrEqual(12);
    // Less than twice the target: decoded whole and resized as Pillow does.
    const near = await decodeImage(jpeg, { width: 60, height: 60 });
    expect(Array.from(near.data)).toEqual(Array.from(resizePil(full, w, w, 3, 60, 60)));
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
    const mask = await decodeMask(
      await sharp(raw, { raw: { width: 16, height: 16, channels: 1 } })
        .png()
        .toBuffer(),
      size,
    );
    expect(Array.from(mask.subarray(0, 8))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });
});

/** An 8-bit RGBA PNG of one colour, deflated a few rows at a time so the whole image is never in memory. */
async function flatRgbaPng(width: number, height: number, rgba: number[]): Promise<Buffer> {
  const rowsPerWrite = 64;
  const rows = Buffer.alloc(rowsPerWrite * (1 + 4 * width));
  for (let y = 0; y < rowsPerWrite; y++) for (let x = 0; x < width; x++) rows.set(rgba, y * (1 + 4 * width) + 1 + 4 * x);
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (part: Buffer) => parts.push(part));
  const done = new Promise((resolve, reject) => deflate.on('end', resolve).on('error', reject));
  for (let y = 0; y < height; y += rowsPerWrite) {
    const n = Math.min(rowsPerWrite, height - y);
    if (!deflate.write(rows.subarray(0, n * (1 + 4 * width)))) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return handPng(width, height, 6, Buffer.concat(parts));
}

describe('decodeImage on a 9500×9500 RGBA PNG (90 MP, 361 MB of pixels in a few hundred KB)', () => {
  const root = findRepoRoot(__dirname)!;
  const built = ['libs/inference/dist/images/decode-image.js', 'libs/inference/dist/images/png-fast-decode.js', 'libs/padim-core/dist/image/resize-pil.js'];
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'padim-large-png-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('never holds the whole image: under 300 MB peak RSS in a process of its own, to the right pixels', async () => {
    // The child runs the built libraries: they must be built from the current sources.
    for (const file of built) {
      const source = file.replace('/dist/', '/src/').replace(/\.js$/, '.ts');
      let stale: boolean;
      try {
        stale = statSync(path.join(root, file)).mtimeMs < statSync(path.join(root, source)).mtimeMs;
      } catch {
        stale = true;
      }
      if (stale) throw new Error(`${file} is missing or older than ${source}: run \`npm run build\` first`);
    }
    const file = path.join(dir, 'large.png');
    writeFileSync(file, await flatRgbaPng(9500, 9500, [40, 120, 200, 255]));
    expect(statSync(file).size).toBeLessThan(400_000);
    const script = `
      // VmHWM is this process image's own peak: ru_maxrss would carry the forking test worker's peak over exec.
      const peakMB = () => Number(/VmHWM:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
      const { decodeImage } = require(${JSON.stringify(path.join(root, built[0]))});
      const before = peakMB();
      const started = process.hrtime.bigint();
      decodeImage(process.argv[1], { width: 256, height: 256 }).then((img) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const pixels = new Set();
        for (let i = 0; i < img.data.length; i += 3) pixels.add(img.data.slice(i, i + 3).join(','));
        console.log(JSON.stringify({ seconds, peakRssMB: peakMB(), rssBeforeMB: before, width: img.width, height: img.height, channels: img.channels, pixels: [...pixels] }));
      });`;
    const out = execFileSync(process.execPath, ['-e', script, file], { encoding: 'utf8', cwd: root });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    console.log(
      `9500×9500 RGBA PNG → 256×256: ${result.seconds.toFixed(2)} s, peak RSS ${result.peakRssMB.toFixed(0)} MB (${result.rssBeforeMB.toFixed(0)} MB before decoding)`,
    );
    expect(result).toMatchObject({ width: 256, height: 256, channels: 3, pixels: ['40,120,200'] });
    expect(result.peakRssMB).toBeLessThan(300);
  }, 120_000);
});
