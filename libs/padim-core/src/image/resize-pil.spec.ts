import { crc32 } from 'node:zlib';
import { mulberry32 } from '../random';
import { PilRowResize, resizePil, resizePilByRows, resizePilByRowsScalar, resizePilScalar } from './resize-pil';
import { resizeBilinearAntialias } from './resize-bilinear-antialias.reference';

type Channels = 1 | 2 | 3 | 4;

function randomImage(width: number, height: number, channels: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  return Uint8Array.from({ length: width * height * channels }, () => Math.floor(rnd() * 256));
}

/**
 * Pillow's ImagingResample for 8-bit images and the BILINEAR filter, written plainly from
 * libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc,
 * ImagingResampleVertical_8bpc, ImagingResampleInner with box = the whole image), one pixel and
 * channel at a time.
 */
function pillowReference(src: Uint8Array, w: number, h: number, c: number, outW: number, outH: number): Uint8Array {
  const PRECISION_BITS = 32 - 8 - 2;
  const bilinear = (x: number): number => {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
  };
  const precompute = (inSize: number, in0: number, in1: number, outSize: number) => {
    let filterscale = (in1 - in0) / outSize;
    const scale = filterscale;
    if (filterscale < 1.0) filterscale = 1.0;
    const support = 1.0 * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const kk = new Float64Array(outSize * ksize);
    const bounds = new Int32Array(outSize * 2);
    for (let xx = 0; xx < outSize; xx++) {
      const center = in0 + (xx + 0.5) * scale;
      let ww = 0.0;
      const ss = 1.0 / filterscale;
      let xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      let x = 0;
      for (; x < xmax; x++) {
        const wt = bilinear((x + xmin - center + 0.5) * ss);
        kk[xx * ksize + x] = wt;
        ww += wt;
      }
      for (x = 0; x < xmax; x++) if (ww !== 0.0) kk[xx * ksize + x] /= ww;
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    // normalize_coeffs_8bpc
    const ik = new Int32Array(outSize * ksize);
    for (let i = 0; i < ik.length; i++) {
      ik[i] = kk[i] < 0 ? Math.trunc(-0.5 + kk[i] * (1 << PRECISION_BITS)) : Math.trunc(0.5 + kk[i] * (1 << PRECISION_BITS));
    }
    return { ksize, bounds, kk: ik };
  };
  // clip8_lookups[in >> PRECISION_BITS] (no Math: globals are slow in Jest's sandbox).
  const clip8 = (v: number): number => {
    const i = v >> PRECISION_BITS;
    return i < 0 ? 0 : i > 255 ? 255 : i;
  };

  const needHorizontal = outW !== w;
  const needVertical = outH !== h;
  const vert = precompute(h, 0, h, outH);
  const yboxFirst = vert.bounds[0];
  const yboxLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
  let img = src;
  let imgW = w;
  if (needHorizontal) {
    const horiz = precompute(w, 0, w, outW);
    for (let i = 0; i < outH; i++) vert.bounds[i * 2] -= yboxFirst;
    const rows = yboxLast - yboxFirst;
    const tmp = new Uint8Array(rows * outW * c);
    for (let yy = 0; yy < rows; yy++) {
      for (let xx = 0; xx < outW; xx++) {
        const xmin = horiz.bounds[xx * 2];
        const xmax = horiz.bounds[xx * 2 + 1];
        for (let ch = 0; ch < c; ch++) {
          let ss0 = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss0 += src[((yy + yboxFirst) * w + x + xmin) * c + ch] * horiz.kk[xx * horiz.ksize + x];
          tmp[(yy * outW + xx) * c + ch] = clip8(ss0);
        }
      }
    }
    img = tmp;
    imgW = outW;
  }
  if (!needVertical) return needHorizontal ? img : src.slice();
  const out = new Uint8Array(outH * imgW * c);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vert.bounds[yy * 2];
    const ymax = vert.bounds[yy * 2 + 1];
    for (let xx = 0; xx < imgW; xx++) {
      for (let ch = 0; ch < c; ch++) {
        let ss0 = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss0 += img[((y + ymin) * imgW + xx) * c + ch] * vert.kk[yy * vert.ksize + y];
        out[(yy * imgW + xx) * c + ch] = clip8(ss0);
      }
    }
  }
  return out;
}

describe('resizePil', () => {
  it('downscales a 4×1 row to 2×1 with the widened triangle (hand-computed)', () => {
    // scale = 2, support = 2, ss = 1/2. Output 0: center 1, xmin = (int)(1 − 2 + 0.5) = 0,
    // xmax = (int)(3.5) = 3; weights tri((x − 1 + 0.5)/2) = 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7
    // → fixed point (int)(0.5 + w·2²²) = 1797559, 1797559, 599186. Output 1: center 3, xmin 1,
    // xmax (int)5.5 = 5 clipped to 4 → 3 taps from 1: 1/7, 3/7, 3/7.
    // [0, 255, 0, 255]: (255·1797559 + 2²¹) >> 22 = 109, (255·(599186 + 1797559) + 2²¹) >> 22 = 146.
    expect(Array.from(resizePil(Uint8Array.of(0, 255, 0, 255), 4, 1, 1, 2, 1))).toEqual([109, 146]);
    // [10, 20, 30, 40]: (10·1797559 + 20·1797559 + 30·599186 + 2²¹) >> 22 = 73999502 >> 22 = 17;
    // (20·599186 + 30·1797559 + 40·1797559 + 2²¹) >> 22 = 139910002 >> 22 = 33.
    expect(Array.from(resizePil(Uint8Array.of(10, 20, 30, 40), 4, 1, 1, 2, 1))).toEqual([17, 33]);
  });

  it('downscales a 4×1 row to 1×1 (hand-computed)', () => {
    // scale = support = 4, ss = 1/4, center 2: xmin = (int)(−1.5) = −1 → 0, xmax = (int)6.5 = 6 → 4.
    // Weights tri((x − 1.5)/4) = 0.625, 0.875, 0.875, 0.625, sum 3 → 873813, 1223339, 1223339, 873813.
    // [0, 100, 200, 255]: (100·1223339 + 200·1223339 + 255·873813 + 2²¹) >> 22 = 591921167 >> 22 = 141.
    expect(Array.from(resizePil(Uint8Array.of(0, 100, 200, 255), 4, 1, 1, 1, 1))).toEqual([141]);
  });

  it('upscales 2×2 to 4×4 with a rounded uint8 intermediate (hand-computed)', () => {
    // scale = 1/2, support 1. Centers 0.25, 0.75, 1.25, 1.75 give taps {0: 1}, {0: 3/4, 1: 1/4},
    // {0: 1/4, 1: 3/4}, {1: 1} (the fourth: xmin = (int)1.25 = 1, xmax = (int)3.25 = 3 → 2 → 1 tap).
    // Horizontal: [0, 100] → [0, 25 (25.5), 75 (75.5), 100]; [200, 255] → [200, 214 (214.25), 241 (241.75), 255].
    // Vertical on those uint8 columns: [0, 200] → [0, 50, 150, 200]; [25, 214] → 72 (72.25+0.5), 167;
    // [75, 241] → 117, 200; [100, 255] → 139, 216.
    expect(Array.from(resizePil(Uint8Array.of(0, 100, 200, 255), 2, 2, 1, 4, 4))).toEqual([
      0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255,
    ]);
  });

  // [width, height, outWidth, outHeight]
  const sizes: [number, number, number, number][] = [
    [1024, 1024, 256, 256],
    [37, 37, 11, 11],
    [13, 13, 29, 29],
    [37, 23, 11, 29], // down across, up down
    [9, 40, 9, 13], // vertical pass only
    [40, 9, 13, 9], // horizontal pass only
    [1000, 3, 1, 1],
    [1, 1, 7, 5],
    [5, 1, 2, 3],
  ];

  it.each(sizes.flatMap(([w, h, ow, oh]) => ([1, 3] as const).map((c) => [w, h, c, ow, oh] as const)))(
    'matches the reference from Pillow’s C for %i×%i×%i → %i×%i',
    (w, h, c, ow, oh) => {
      const src = randomImage(w, h, c, w * 7 + h * 13 + c);
      const expected = pillowReference(src, w, h, c, ow, oh);
      expect(Buffer.from(resizePil(src, w, h, c, ow, oh)).equals(Buffer.from(expected))).toBe(true);
    },
  );

  it.each([2, 4] as const)('matches the reference with %i channels, each resampled alone', (c) => {
    for (const [w, h, ow, oh] of sizes.slice(1)) {
      const src = randomImage(w, h, c, w + h + c);
      expect(Buffer.from(resizePil(src, w, h, c, ow, oh)).equals(Buffer.from(pillowReference(src, w, h, c, ow, oh)))).toBe(true);
    }
  });

  it('is within one level of the float antialiased resize, and not equal to it (the rounding is Pillow’s)', () => {
    const src = randomImage(1024, 1024, 1, 21);
    const fixed = resizePil(src, 1024, 1024, 1, 256, 256);
    const float = resizeBilinearAntialias(src, { h: 1024, w: 1024, c: 1 }, 256, 256);
    let differ = 0;
    let worst = 0;
    for (let i = 0; i < fixed.length; i++) {
      const d = Math.abs(fixed[i] - Math.round(float[i]));
      worst = Math.max(worst, d);
      if (d > 0) differ++;
    }
    expect(worst).toBe(1);
    expect(differ).toBeGreaterThan(100);
  });

  it('returns an unchanged copy when the size does not change (256→256)', () => {
    for (const c of [1, 3] as const) {
      const src = randomImage(256, 256, c, 9 + c);
      const out = resizePil(src, 256, 256, c, 256, 256);
      expect(out).not.toBe(src);
      expect(Buffer.from(out).equals(Buffer.from(src))).toBe(true);
    }
  });

  // CRC-32s of Pillow 9.4.0's `Image.frombytes(mode, (w, h), bytes).resize((ow, oh), Image.BILINEAR)`
  // on the same mulberry32 images (bytes floor(rnd()·256)), recorded with python3-pil.
  it.each([
    [7, 5, 1, 3, 2, 2, 3324257525, 489510884],
    [5, 3, 3, 9, 4, 3, 1899419448, 2720521583],
    [1024, 1024, 1, 256, 256, 4, 2885344300, 4172825532],
    [37, 23, 1, 11, 7, 5, 1176569486, 874605955],
    [37, 23, 3, 11, 7, 6, 2693695797, 1702023994],
    [13, 9, 1, 29, 17, 7, 1800980851, 2417289995],
    [13, 9, 3, 29, 17, 8, 765416380, 440431549],
    [300, 200, 3, 224, 224, 10, 2394561811, 1786749307],
    [9, 40, 1, 9, 13, 11, 2101954142, 530892183],
    [40, 9, 3, 13, 9, 12, 2218545114, 2438078285],
    [1, 5, 1, 3, 1, 13, 1546969249, 2463598333],
  ])('equals Pillow 9.4 for %i×%i×%i → %i×%i (seed %i)', (w, h, c, ow, oh, seed, srcCrc, outCrc) => {
    const src = randomImage(w, h, c, seed);
    expect(crc32(src)).toBe(srcCrc);
    expect(crc32(resizePil(src, w, h, c as Channels, ow, oh))).toBe(outCrc);
    expect(crc32(resizePilScalar(src, w, h, c as Channels, ow, oh))).toBe(outCrc);
  });

  it('gives the same bytes in wasm and in the scalar twin', () => {
    const cases: [number, number, number, number][] = [...sizes.slice(1), [3, 1000, 1, 1], [17, 19, 16, 20], [64, 64, 33, 31], [7, 7, 100, 3]];
    for (const [w, h, ow, oh] of cases) {
      for (const c of [1, 2, 3, 4] as const) {
        const src = randomImage(w, h, c, w * h + c);
        expect(Buffer.from(resizePil(src, w, h, c, ow, oh)).equals(Buffer.from(resizePilScalar(src, w, h, c, ow, oh)))).toBe(true);
      }
    }
  });

  it('rejects bad sizes, channels and lengths', () => {
    const src = new Uint8Array(12);
    expect(() => resizePil(src, 4, 3, 1, 0, 2)).toThrow(/outWidth must be a positive integer, got 0/);
    expect(() => resizePil(src, 4, 3, 1, 2, 1.5)).toThrow(/outHeight/);
    expect(() => resizePil(src, 4, 3, 5 as Channels, 2, 2)).toThrow(/channels must be 1, 2, 3 or 4/);
    expect(() => resizePil(src, 4, 4, 1, 2, 2)).toThrow(/src has 12 bytes, expected .* = 16/);
  });
});

describe('resizePilByRows', () => {
  /** resizePilByRows (or its scalar twin) fed bands of the given heights, in turn, until every row is in. */
  function byRows(src: Uint8Array, w: number, h: number, c: Channels, ow: number, oh: number, bands: number[], twin = resizePilByRows): Uint8Array {
    const resize: PilRowResize = twin(w, h, c, ow, oh);
    for (let y = 0, b = 0; y < h; b++) {
      const n = Math.min(bands[b % bands.length], h - y);
      resize.push(src.slice(y * w * c, (y + n) * w * c));
      y += n;
    }
    return resize.finish();
  }

  it('gives the bytes of resizePil whatever the bands, shrinking, enlarging or keeping either axis', () => {
    const cases: [number, number, number, number][] = [
      [37, 23, 11, 7],
      [13, 9, 29, 17],
      [300, 200, 224, 224],
      [9, 40, 9, 13],
      [40, 9, 13, 9],
      [64, 64, 64, 20],
      [1, 5, 3, 1],
      [120, 333, 7, 5],
      [5, 7, 5, 7],
    ];
    for (const [w, h, ow, oh] of cases) {
      for (const c of [1, 2, 3, 4] as const) {
        const src = randomImage(w, h, c, w * h + c);
        const whole = resizePil(src, w, h, c, ow, oh);
        for (const bands of [[1], [16], [3, 1, 7], [h]]) {
          expect(Buffer.from(byRows(src, w, h, c, ow, oh, bands)).equals(Buffer.from(whole))).toBe(true);
          expect(Buffer.from(byRows(src, w, h, c, ow, oh, bands, resizePilByRowsScalar)).equals(Buffer.from(whole))).toBe(true);
        }
      }
    }
  });

  it('equals Pillow 9.4 for 1024×1024 grey → 256×256 fed 64 rows at a time', () => {
    const src = randomImage(1024, 1024, 1, 4);
    expect(crc32(byRows(src, 1024, 1024, 1, 256, 256, [64]))).toBe(4172825532);
  });

  it('rejects partial rows, rows past the end and an early finish', () => {
    const resize = resizePilByRows(4, 3, 1, 2, 2);
    expect(() => resize.push(new Uint8Array(6))).toThrow('resizePilByRows: push takes whole rows of 4 bytes, got 6');
    resize.push(new Uint8Array(8));
    expect(() => resize.finish()).toThrow('resizePilByRows: finish after 2 of 3 rows');
    expect(() => resize.push(new Uint8Array(8))).toThrow('resizePilByRows: 4 rows pushed, the image has 3');
  });
});
