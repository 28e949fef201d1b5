import { resizeBilinear } from './resize-bilinear';
import { resizeBilinearAntialias } from './resize-bilinear-antialias.reference';

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('resizeBilinearAntialias', () => {
  it('keeps a constant RGB image constant when downscaling by a non-integer factor', () => {
    const src = new Uint8Array(37 * 23 * 3);
    for (let i = 0; i < src.length; i += 3) {
      src[i] = 200;
      src[i + 1] = 17;
      src[i + 2] = 0;
    }
    const out = resizeBilinearAntialias(src, { h: 37, w: 23, c: 3 }, 10, 9);
    expect(out.length).toBe(10 * 9 * 3);
    for (let i = 0; i < out.length; i += 3) {
      expect(out[i]).toBeCloseTo(200, 4);
      expect(out[i + 1]).toBeCloseTo(17, 4);
      expect(out[i + 2]).toBe(0);
    }
  });

  it('2x downscale of 4x4 uses the triangle weights [3,3,1]/7 and [1,3,3]/7', () => {
    // Pillow's precompute_coeffs with support 2: output 0 has centre 1, taps x = 0..2 with
    // weights tri((x + 0.5 - 1) / 2) = 3/4, 3/4, 1/4 -> [3,3,1]/7; output 1 mirrors it -> [1,3,3]/7.
    // For src[y][x] = 10y + x: each axis maps [0,1,2,3] to [5/7, 16/7].
    const src = new Uint8Array(16);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) src[y * 4 + x] = 10 * y + x;
    const out = resizeBilinearAntialias(src, { h: 4, w: 4, c: 1 }, 2, 2);
    expectClose(out, [55 / 7, 66 / 7, 165 / 7, 176 / 7], 1e-5);
  });

  it('2x downscale in the interior is the [1,3,3,1]/8 filter', () => {
    const w = 8;
    const src = new Float32Array([5, 0, 0, 8, 0, 16, 8, 0]);
    const out = resizeBilinearAntialias(src, { h: 1, w, c: 1 }, 1, 4);
    // borders: [3,3,1]/7 and [1,3,3]/7; interior outputs 1 and 2 read x = 1..4 and 3..6
    expectClose(out, [(3 * 5 + 0 + 0) / 7, (0 + 0 + 3 * 8 + 0) / 8, (8 + 3 * 0 + 3 * 16 + 8) / 8, (16 + 3 * 8 + 0) / 7], 1e-5);
  });

  it('equals plain bilinear (torch align_corners=False) when upscaling', () => {
    const h = 5;
    const w = 6;
    const src = Float32Array.from({ length: h * w }, (_, i) => ((i * 37) % 11) - 4);
    const a = resizeBilinearAntialias(src, { h, w, c: 1 }, 13, 17);
    const b = resizeBilinear(src, { c: 1, h, w }, 13, 17);
    expectClose(a, b, 1e-5);
  });

  it('keeps channels separate', () => {
    const src = new Float32Array(6 * 6 * 2);
    for (let i = 0; i < 36; i++) {
      src[2 * i] = i;
      src[2 * i + 1] = -i;
    }
    const out = resizeBilinearAntialias(src, { h: 6, w: 6, c: 2 }, 4, 3);
    for (let i = 0; i < 12; i++) expect(out[2 * i + 1]).toBeCloseTo(-out[2 * i], 5);
  });

  it('rejects a buffer of the wrong length', () => {
    expect(() => resizeBilinearAntialias(new Uint8Array(10), { h: 2, w: 2, c: 3 }, 1, 1)).toThrow(/h\*w\*c = 12/);
  });
});
