import { mulberry32 } from '../random';
import { unfilterPng, unfilterPngScalar } from './png-unfilter';

type Bpp = 1 | 2 | 3 | 4;

/** The PNG spec's Paeth predictor, as written there (§9.4). */
function paeth(a: number, b: number, c: number): number {
  // (No Math.abs: globals are slow in Jest's sandbox, and this runs 2²⁴ times.)
  const p = a + b - c;
  const pa = p > a ? p - a : a - p;
  const pb = p > b ? p - b : b - p;
  const pc = p > c ? p - c : c - p;
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

/** Filters packed pixels with the given filter type per row, as a PNG encoder does. */
function filterRows(pixels: Uint8Array, width: number, height: number, bpp: number, types: number[]): Uint8Array {
  const rowLen = width * bpp;
  const raw = new Uint8Array(height * (rowLen + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (rowLen + 1)] = types[y];
    for (let i = 0; i < rowLen; i++) {
      const x = pixels[y * rowLen + i];
      const a = i >= bpp ? pixels[y * rowLen + i - bpp] : 0;
      const b = y > 0 ? pixels[(y - 1) * rowLen + i] : 0;
      const c = y > 0 && i >= bpp ? pixels[(y - 1) * rowLen + i - bpp] : 0;
      const t = types[y];
      const pred = t === 0 ? 0 : t === 1 ? a : t === 2 ? b : t === 3 ? (a + b) >> 1 : paeth(a, b, c);
      raw[y * (rowLen + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  return raw;
}

/** Random pixels: uniform, or from a few values near 0 and 255 (ties and wrap-around in Paeth and Average). */
function randomPixels(n: number, rnd: () => number, edgy: boolean): Uint8Array {
  const alphabet = [0, 1, 2, 127, 128, 253, 254, 255];
  return Uint8Array.from({ length: n }, () => (edgy ? alphabet[Math.floor(rnd() * alphabet.length)] : Math.floor(rnd() * 256)));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

describe('unfilterPng', () => {
  it('undoes each filter type on a small grey image (hand-computed)', () => {
    // 3×5 grey, one filter per row: None, Sub, Up, Average, Paeth.
    const raw = Uint8Array.of(
      0,
      10,
      20,
      30, // None: 10 20 30
      1,
      5,
      5,
      250, // Sub: 5, 5+5 = 10, 10+250 = 260 → 4
      2,
      1,
      2,
      3, // Up: 5+1 = 6, 10+2 = 12, 4+3 = 7
      3,
      4,
      4,
      4, // Average: 4 + ⌊(0+6)/2⌋ = 7, 4 + ⌊(7+12)/2⌋ = 13, 4 + ⌊(13+7)/2⌋ = 14
      4,
      1,
      1,
      1, // Paeth: x=0 a=c=0 b=7 → b: 8; x=1 a=8 b=13 c=7 → p=14, pa=6 pb=1 pc=7 → b: 14;
      //             x=2 a=14 b=14 c=13 → p=15, pa=1 pb=1 pc=2 → a (tie goes to a): 15
    );
    const expected = [10, 20, 30, 5, 10, 4, 6, 12, 7, 7, 13, 14, 8, 14, 15];
    expect(Array.from(unfilterPng(raw, 3, 5, 1))).toEqual(expected);
    expect(Array.from(unfilterPngScalar(raw, 3, 5, 1))).toEqual(expected);
  });

  // Widths below, at and above the kernel's 16-byte tiles; heights below, at and above its 16-row blocks.
  const shapes: [number, number][] = [
    [1, 1],
    [1, 17],
    [5, 3],
    [16, 16],
    [17, 33],
    [40, 15],
    [64, 50],
    [333, 37],
  ];

  it.each([1, 2, 3, 4] as const)('round-trips images filtered with random filter types per row (bpp %i)', (bpp: Bpp) => {
    const rnd = mulberry32(100 + bpp);
    for (const [w, h] of shapes) {
      for (const edgy of [false, true]) {
        const pixels = randomPixels(w * h * bpp, rnd, edgy);
        const types = Array.from({ length: h }, () => Math.floor(rnd() * 5));
        const raw = filterRows(pixels, w, h, bpp, types);
        expect(same(unfilterPng(raw, w, h, bpp), pixels)).toBe(true);
        expect(same(unfilterPngScalar(raw, w, h, bpp), pixels)).toBe(true);
      }
    }
  });

  it.each([0, 1, 2, 3, 4])('round-trips an image where every row has filter type %i', (type) => {
    const rnd = mulberry32(7 + type);
    for (const bpp of [1, 3, 4] as const) {
      const [w, h] = [97, 41];
      const pixels = randomPixels(w * h * bpp, rnd, type === 4);
      const raw = filterRows(pixels, w, h, bpp, Array(h).fill(type));
      expect(same(unfilterPng(raw, w, h, bpp), pixels)).toBe(true);
    }
  });

  it('predicts Paeth right for every (a, b, c)', () => {
    // Rows in pairs: an even row (None) holds c, b at columns 2j, 2j+1; the odd row below it (Paeth)
    // holds a at column 2j, so its column 2j+1 sees exactly (a, b, c). 2²⁴ triples in four images.
    const N = 4096;
    const W = 2 * N;
    const H = 1024;
    for (let base = 0; base < 1 << 24; base += (H / 2) * N) {
      const pixels = new Uint8Array(W * H);
      for (let k = 0; k < H / 2; k++) {
        for (let j = 0; j < N; j++) {
          const id = base + k * N + j;
          pixels[2 * k * W + 2 * j] = id >> 16;
          pixels[2 * k * W + 2 * j + 1] = (id >> 8) & 0xff;
          pixels[(2 * k + 1) * W + 2 * j] = id & 0xff;
          pixels[(2 * k + 1) * W + 2 * j + 1] = (id * 37) & 0xff;
        }
      }
      const raw = filterRows(
        pixels,
        W,
        H,
        1,
        Array.from({ length: H }, (_, y) => (y % 2 ? 4 : 0)),
      );
      expect(same(unfilterPng(raw, W, H, 1), pixels)).toBe(true);
    }
  });

  it('gives the same bytes in wasm and in the scalar twin on arbitrary streams', () => {
    const rnd = mulberry32(5);
    for (const bpp of [1, 2, 3, 4] as const) {
      for (const [w, h] of [...shapes, [1024, 20] as [number, number]]) {
        const raw = randomPixels(h * (w * bpp + 1), rnd, rnd() < 0.5);
        for (let y = 0; y < h; y++) raw[y * (w * bpp + 1)] = Math.floor(rnd() * 5);
        expect(same(unfilterPng(raw, w, h, bpp), unfilterPngScalar(raw, w, h, bpp))).toBe(true);
      }
    }
  });

  it('unfilters an image too large to keep in the shared kernel memory (> 64 MiB laid out), then small ones again', () => {
    const [w, h, bpp] = [2900, 2900, 3] as const;
    // xorshift32 inline rather than mulberry32, and no Paeth rows: globals (Math) are slow in Jest's sandbox.
    const raw = new Uint8Array(h * (w * bpp + 1));
    for (let i = 0, x = 11; i < raw.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      raw[i] = x & 0xff;
    }
    for (let y = 0; y < h; y++) raw[y * (w * bpp + 1)] = y % 4;
    expect(same(unfilterPng(raw, w, h, bpp), unfilterPngScalar(raw, w, h, bpp))).toBe(true);
    const pixels = randomPixels(30 * 20, mulberry32(11), false);
    const small = filterRows(
      pixels,
      30,
      20,
      1,
      Array.from({ length: 20 }, (_, y) => y % 5),
    );
    expect(same(unfilterPng(small, 30, 20, 1), pixels)).toBe(true);
  });

  it('writes into `out` when given', () => {
    const raw = filterRows(Uint8Array.of(1, 2, 3, 4, 5, 6), 3, 2, 1, [1, 4]);
    const out = new Uint8Array(6);
    expect(unfilterPng(raw, 3, 2, 1, out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ['unfilterPng', unfilterPng],
    ['unfilterPngScalar', unfilterPngScalar],
  ] as const)('%s rejects a bad filter type naming the row, and wrong lengths', (name, unfilter) => {
    const raw = filterRows(new Uint8Array(12), 4, 3, 1, [0, 1, 2]);
    raw[2 * 5] = 5;
    expect(() => unfilter(raw, 4, 3, 1)).toThrow(RangeError);
    expect(() => unfilter(raw, 4, 3, 1)).toThrow(`${name}: row 2 has filter type 5, expected 0..4`);
    expect(() => unfilter(new Uint8Array(14), 4, 3, 1)).toThrow(`${name}: raw has 14 bytes, expected height·(1 + width·bytesPerPixel) = 3·(1 + 4·1) = 15`);
    expect(() => unfilter(new Uint8Array(16), 4, 3, 1)).toThrow(/raw has 16 bytes, expected .* = 15/);
    expect(() => unfilter(new Uint8Array(15), 4, 3, 1, new Uint8Array(11))).toThrow(/out has 11 bytes, expected .* = 12/);
    expect(() => unfilter(new Uint8Array(15), 4, 3, 5 as Bpp)).toThrow(/bytesPerPixel must be 1, 2, 3 or 4/);
    expect(() => unfilter(new Uint8Array(0), 0, 3, 1)).toThrow(/width must be a positive integer, got 0/);
  });
});
