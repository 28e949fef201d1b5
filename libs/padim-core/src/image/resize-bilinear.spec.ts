import { resizeBilinear } from './resize-bilinear';

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('resizeBilinear', () => {
  it('upsamples 2x2 -> 4x4 like torch F.interpolate(bilinear, align_corners=False)', () => {
    // Hand-computed: src x = (dst + 0.5) / 2 - 0.5 clamped at 0 -> 0, 0.25, 0.75, 1 (clamped to the last pixel);
    // these are also the values torch prints for this input.
    const out = resizeBilinear(new Float32Array([1, 2, 3, 4]), { c: 1, h: 2, w: 2 }, 4, 4);
    expectClose(out, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4], 1e-6);
  });

  it('downsamples without antialias (4 -> 2 averages pixel pairs, 3 -> 2 uses 0.25/1.75)', () => {
    // 4 -> 2: src x = (dst + 0.5) * 2 - 0.5 = 0.5, 2.5
    expectClose(resizeBilinear(new Float32Array([0, 1, 2, 3]), { c: 1, h: 1, w: 4 }, 1, 2), [0.5, 2.5], 1e-6);
    // 3 -> 2: src x = (dst + 0.5) * 1.5 - 0.5 = 0.25, 1.75
    expectClose(resizeBilinear(new Float32Array([0, 4, 8]), { c: 1, h: 1, w: 3 }, 1, 2), [1, 7], 1e-6);
  });

  it('keeps a constant image constant and resizes each channel independently', () => {
    const src = new Float32Array(2 * 5 * 7);
    src.fill(3.5, 0, 35);
    src.fill(-2, 35);
    const out = resizeBilinear(src, { c: 2, h: 5, w: 7 }, 13, 4);
    expect(out.length).toBe(2 * 13 * 4);
    for (let i = 0; i < 52; i++) expect(out[i]).toBe(3.5);
    for (let i = 52; i < 104; i++) expect(out[i]).toBe(-2);
  });

  it('reproduces a linear ramp exactly inside the image (64 -> 256)', () => {
    const h = 64;
    const w = 64;
    const src = new Float32Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) src[y * w + x] = 2 * y + x;
    const out = resizeBilinear(src, { c: 1, h, w }, 256, 256);
    const coord = (o: number) => Math.min(Math.max((o + 0.5) / 4 - 0.5, 0), 63);
    const expected = new Float64Array(256 * 256);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) expected[y * 256 + x] = 2 * coord(y) + coord(x);
    expectClose(out, expected, 1e-4);
  });

  it('is the identity at the same size', () => {
    const src = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    expectClose(resizeBilinear(src, { c: 1, h: 3, w: 4 }, 3, 4), src, 0);
  });

  it('rejects bad shapes', () => {
    expect(() => resizeBilinear(new Float32Array(5), { c: 1, h: 2, w: 2 }, 4, 4)).toThrow(/length 5/);
    expect(() => resizeBilinear(new Float32Array(4), { c: 1, h: 2, w: 2 }, 0, 4)).toThrow(/outH/);
  });
});
