import { upsampleNearest } from './upsample-nearest';

describe('upsampleNearest', () => {
  it('repeats each pixel factor x factor times (torch nearest, integer scale)', () => {
    const out = upsampleNearest(new Float32Array([1, 2, 3, 4, 5, 6]), { c: 1, h: 2, w: 3 }, 2);
    expect(Array.from(out)).toEqual([
      1, 1, 2, 2, 3, 3,
      1, 1, 2, 2, 3, 3,
      4, 4, 5, 5, 6, 6,
      4, 4, 5, 5, 6, 6,
    ]);
  });

  it('matches out[y][x] = in[floor(y/f)][floor(x/f)] per channel', () => {
    const c = 2;
    const h = 3;
    const w = 4;
    const f = 3;
    const src = Float32Array.from({ length: c * h * w }, (_, i) => i * 0.5 - 3);
    const out = upsampleNearest(src, { c, h, w }, f);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h * f; y++) {
        for (let x = 0; x < w * f; x++) {
          expect(out[(ch * h * f + y) * w * f + x]).toBe(src[(ch * h + Math.floor(y / f)) * w + Math.floor(x / f)]);
        }
      }
    }
  });

  it('factor 1 is a copy; rejects non-integer factors', () => {
    const src = new Float32Array([7, 8]);
    expect(Array.from(upsampleNearest(src, { c: 1, h: 1, w: 2 }, 1))).toEqual([7, 8]);
    expect(() => upsampleNearest(src, { c: 1, h: 1, w: 2 }, 1.5)).toThrow(/factor/);
  });
});
