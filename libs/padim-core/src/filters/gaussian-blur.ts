/**
 * Kernel size anomalib uses for a given sigma: `2 * int(4 * sigma + 0.5) + 1` (33 for sigma 4).
 */
export function gaussianKernelSize(sigma: number): number {
  return 2 * Math.floor(4 * sigma + 0.5) + 1;
}

/**
 * Normalised 1-D Gaussian as kornia's `get_gaussian_kernel1d` builds it for an odd size:
 * taps at x = -(size-1)/2 .. (size-1)/2, exp(-x² / 2σ²), divided by their sum.
 */
export function gaussianKernel1d(sigma: number, size: number = gaussianKernelSize(sigma)): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`gaussianKernel1d: sigma must be > 0, got ${sigma}`);
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) {
    throw new RangeError(`gaussianKernel1d: size must be a positive odd integer, got ${size}`);
  }
  const r = (size - 1) / 2;
  const k = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = i - r;
    k[i] = Math.exp(-(x * x) / (2 * sigma * sigma));
    sum += k[i];
  }
  for (let i = 0; i < size; i++) k[i] /= sum;
  return k;
}

/**
 * Gaussian blur of one H×W map as anomalib's `GaussianBlur2d(sigma)` applies it to PaDiM
 * anomaly maps: kornia's normalised kernel, 'reflect' padding (mirror without repeating the
 * edge: index -1 reads 1, as torch `F.pad(mode='reflect')`), 'same' output size.
 * Separable: the 2-D kernel is the outer product of the 1-D one, so a row then a column pass
 * give the same result as anomalib's 2-D convolution at a fraction of the cost.
 *
 * Reflect padding needs the radius to be smaller than both sides (torch raises otherwise), so
 * h and w must exceed (kernelSize - 1) / 2; 17 for the default sigma 4.
 */
export function gaussianBlur(src: Float32Array, shape: { h: number; w: number }, sigma = 4, kernelSize: number = gaussianKernelSize(sigma)): Float32Array {
  const { h, w } = shape;
  for (const [name, v] of [
    ['h', h],
    ['w', w],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`gaussianBlur: ${name} must be a positive integer, got ${v}`);
  }
  if (src.length !== h * w) throw new RangeError(`gaussianBlur: src has length ${src.length}, expected h*w = ${h * w}`);
  const kernel = gaussianKernel1d(sigma, kernelSize);
  const r = (kernelSize - 1) / 2;
  if (r >= h || r >= w) {
    throw new RangeError(
      `gaussianBlur: reflect padding needs kernel radius ${r} < image size, got ${h}x${w} ` +
        `(sigma ${sigma}, kernel ${kernelSize}); use a smaller sigma/kernelSize or a larger map`,
    );
  }

  // Row pass: each row is reflect-padded once into `padded`, then convolved. The kernel is
  // symmetric, so mirrored taps are added before multiplying.
  const tmp = new Float64Array(h * w);
  const padded = new Float64Array(w + 2 * r);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) padded[r + x] = src[row + x];
    for (let i = 1; i <= r; i++) {
      padded[r - i] = src[row + i];
      padded[r + w - 1 + i] = src[row + w - 1 - i];
    }
    for (let x = 0; x < w; x++) {
      let acc = kernel[r] * padded[x + r];
      for (let k = 0; k < r; k++) acc += kernel[k] * (padded[x + k] + padded[x + 2 * r - k]);
      tmp[row + x] = acc;
    }
  }

  // Column pass, row-major: accumulate whole rows of `tmp` picked through the reflected row index.
  const rowOf = new Int32Array(h + 2 * r);
  for (let i = 0; i < h + 2 * r; i++) {
    const y = i - r;
    rowOf[i] = (y < 0 ? -y : y >= h ? 2 * (h - 1) - y : y) * w;
  }
  const out = new Float32Array(h * w);
  const acc = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    const centre = rowOf[y + r];
    const kc = kernel[r];
    for (let x = 0; x < w; x++) acc[x] = kc * tmp[centre + x];
    for (let k = 0; k < r; k++) {
      const a = rowOf[y + k];
      const b = rowOf[y + 2 * r - k];
      const kk = kernel[k];
      for (let x = 0; x < w; x++) acc[x] += kk * (tmp[a + x] + tmp[b + x]);
    }
    out.set(acc, y * w);
  }
  return out;
}
