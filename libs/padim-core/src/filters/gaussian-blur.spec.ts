import { gaussianBlur, gaussianKernel1d, gaussianKernelSize } from './gaussian-blur';

/** Naive 2-D convolution with the outer-product kernel and explicit torch-style reflect indexing. */
function naiveBlur(src: Float32Array, h: number, w: number, sigma: number, size: number): Float64Array {
  const k = gaussianKernel1d(sigma, size);
  const r = (size - 1) / 2;
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          acc += k[dy + r] * k[dx + r] * src[reflect(y + dy, h) * w + reflect(x + dx, w)];
        }
      }
      out[y * w + x] = acc;
    }
  }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('gaussianKernelSize / gaussianKernel1d', () => {
  it('uses anomalib sizes: 2 * int(4 sigma + 0.5) + 1', () => {
    expect(gaussianKernelSize(4)).toBe(33);
    expect(gaussianKernelSize(1)).toBe(9);
    expect(gaussianKernelSize(2)).toBe(17);
  });

  it('matches the textbook 3-tap sigma=1 kernel (OpenCV getGaussianKernel(3, 1))', () => {
    const k = gaussianKernel1d(1, 3);
    expect(k[0]).toBeCloseTo(0.274068619, 9);
    expect(k[1]).toBeCloseTo(0.451862762, 9);
    expect(k[2]).toBeCloseTo(0.274068619, 9);
  });

  it('is symmetric and sums to 1', () => {
    const k = gaussianKernel1d(4);
    expect(k.length).toBe(33);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    for (let i = 0; i < 33; i++) expect(k[i]).toBe(k[32 - i]);
  });

  it('rejects even sizes and non-positive sigma', () => {
    expect(() => gaussianKernel1d(1, 4)).toThrow(/odd/);
    expect(() => gaussianKernel1d(0, 3)).toThrow(/sigma/);
  });
});

describe('gaussianBlur', () => {
  it('matches a naive 2-D reflect convolution (sigma 4, kernel 33, non-square map)', () => {
    const h = 40;
    const w = 23;
    const rnd = lcg(1);
    const src = Float32Array.from({ length: h * w }, () => rnd() * 10 - 5);
    const out = gaussianBlur(src, { h, w });
    expect(maxAbsDiff(out, naiveBlur(src, h, w, 4, 33))).toBeLessThan(1e-5);
  });

  it('matches the naive convolution at the smallest allowed size (radius = size - 1)', () => {
    const h = 5;
    const w = 6;
    const rnd = lcg(7);
    const src = Float32Array.from({ length: h * w }, () => rnd());
    const out = gaussianBlur(src, { h, w }, 1, 9);
    expect(maxAbsDiff(out, naiveBlur(src, h, w, 1, 9))).toBeLessThan(1e-6);
  });

  it('reflects without repeating the edge pixel (hand-computed 3-tap case)', () => {
    // Row [1, 2, 3] with kernel [a, b, a]: reflect padding gives [2, 1, 2, 3, 2].
    const [a, b] = gaussianKernel1d(1, 3);
    const out = gaussianBlur(new Float32Array([1, 2, 3, 1, 2, 3]), { h: 2, w: 3 }, 1, 3);
    const row = [a * 2 + b * 1 + a * 2, a * 1 + b * 2 + a * 3, a * 2 + b * 3 + a * 2];
    expect(maxAbsDiff(out, [...row, ...row])).toBeLessThan(1e-6);
  });

  it('keeps a constant map constant', () => {
    const src = new Float32Array(64 * 64).fill(2.75);
    const out = gaussianBlur(src, { h: 64, w: 64 });
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i] - 2.75)).toBeLessThan(1e-5);
  });

  it('turns a centred impulse into the normalised 2-D kernel', () => {
    const n = 41; // impulse at 20, radius 16: no reflected copy reaches any output pixel
    const src = new Float32Array(n * n);
    src[20 * n + 20] = 1;
    const out = gaussianBlur(src, { h: n, w: n });
    const k = gaussianKernel1d(4, 33);
    let sum = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const dy = y - 20;
        const dx = x - 20;
        const expected = Math.abs(dy) <= 16 && Math.abs(dx) <= 16 ? k[dy + 16] * k[dx + 16] : 0;
        expect(Math.abs(out[y * n + x] - expected)).toBeLessThan(1e-9);
        sum += out[y * n + x];
      }
    }
    expect(sum).toBeCloseTo(1, 5);
  });

  it('gives mirror-symmetric output for mirror-symmetric input', () => {
    const h = 30;
    const w = 30;
    const rnd = lcg(3);
    const src = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w / 2; x++) {
        const v = rnd();
        src[y * w + x] = v;
        src[y * w + (w - 1 - x)] = v;
      }
    }
    const out = gaussianBlur(src, { h, w }, 2);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) expect(Math.abs(out[y * w + x] - out[y * w + (w - 1 - x)])).toBeLessThan(1e-6);
    }
  });

  it('throws a clear error when the map is not larger than the kernel radius', () => {
    expect(() => gaussianBlur(new Float32Array(16 * 64), { h: 16, w: 64 })).toThrow(/radius 16 < image size, got 16x64/);
    expect(() => gaussianBlur(new Float32Array(10), { h: 2, w: 2 })).toThrow(/length 10/);
  });
});
