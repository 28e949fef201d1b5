/**
 * Antialiased bilinear resize of raw HWC pixels, following Pillow's `Image.resize(size, BILINEAR)`
 * (ImagingResample): a triangle filter whose support grows with the downscale factor
 * (support = max(1, in/out)), half-pixel centres, taps outside the image dropped and the
 * remaining weights renormalised. When upscaling it equals plain bilinear with clamped borders.
 *
 * Unlike Pillow on 8-bit images, the result is float with no intermediate or final rounding,
 * so values can differ from Pillow's uint8 output by up to about one grey level. The specs' float
 * reference for resizePil; not part of the library.
 *
 * @param src   HWC pixels (e.g. RGB bytes), length h*w*c
 * @param shape `{ h, w, c }` of `src`
 * @returns     HWC values of shape `{ h: outH, w: outW, c }`, in the input's value range
 */
export function resizeBilinearAntialias(src: Uint8Array | Float32Array, shape: { h: number; w: number; c: number }, outH: number, outW: number): Float32Array {
  const { h, w, c } = shape;
  for (const [name, v] of [
    ['h', h],
    ['w', w],
    ['c', c],
    ['outH', outH],
    ['outW', outW],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`resizeBilinearAntialias: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (src.length !== h * w * c) {
    throw new RangeError(`resizeBilinearAntialias: src has length ${src.length}, expected h*w*c = ${h * w * c}`);
  }
  const cx = triangleCoeffs(w, outW);
  const cy = triangleCoeffs(h, outH);

  // Horizontal pass into f64 so the vertical pass adds no rounding.
  const tmp = new Float64Array(h * outW * c);
  for (let y = 0; y < h; y++) {
    const srow = y * w * c;
    const trow = y * outW * c;
    for (let ox = 0; ox < outW; ox++) {
      const start = cx.start[ox];
      const count = cx.count[ox];
      const kOff = ox * cx.stride;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < count; k++) acc += cx.weights[kOff + k] * src[srow + (start + k) * c + ch];
        tmp[trow + ox * c + ch] = acc;
      }
    }
  }

  const rowLen = outW * c;
  const out = new Float32Array(outH * rowLen);
  const acc = new Float64Array(rowLen);
  for (let oy = 0; oy < outH; oy++) {
    acc.fill(0);
    const start = cy.start[oy];
    const count = cy.count[oy];
    const kOff = oy * cy.stride;
    for (let k = 0; k < count; k++) {
      const wk = cy.weights[kOff + k];
      const trow = (start + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += wk * tmp[trow + i];
    }
    out.set(acc, oy * rowLen);
  }
  return out;
}

/** Pillow's precompute_coeffs with the bilinear (triangle) filter. */
function triangleCoeffs(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; weights: Float64Array; stride: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filterScale; // triangle support 1, widened by the downscale factor
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // Math.trunc mirrors the C int cast
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
    let sum = 0;
    const n = xmax - xmin;
    for (let k = 0; k < n; k++) {
      const t = Math.abs((xmin + k - center + 0.5) / filterScale);
      const wk = t < 1 ? 1 - t : 0;
      weights[o * stride + k] = wk;
      sum += wk;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[o * stride + k] /= sum;
    start[o] = xmin;
    count[o] = n;
  }
  return { start, count, weights, stride };
}
