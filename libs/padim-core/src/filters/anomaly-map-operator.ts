import { axisTaps } from '../image/resize-bilinear';
import { gaussianKernel1d, gaussianKernelSize } from './gaussian-blur';

/**
 * The anomaly map's upsampling and blur along one axis as a matrix: row-major [outSize, inSize], the
 * linear map x ↦ blur(resize(x)) of resizeBilinear (half-pixel, clamped) and gaussianBlur (reflect).
 * Both are separable, so a whole map is A_h · D · A_wᵀ: two small matrix products instead of a resize,
 * a pad and two 33-tap convolutions (for a 64×64 grid to 256×256: 5 M multiply-adds against 9 M, and in
 * the shape BLAS is fastest at).
 */
export function anomalyMapOperator(inSize: number, outSize: number, sigma: number): Float64Array {
  const size = gaussianKernelSize(sigma);
  const r = (size - 1) / 2;
  if (r >= outSize) throw new RangeError(`anomalyMapOperator: kernel radius ${r} needs an output larger than ${outSize}`);
  const kernel = gaussianKernel1d(sigma, size);
  const taps = axisTaps(inSize, outSize);
  const reflect = (i: number) => (i < 0 ? -i : i >= outSize ? 2 * (outSize - 1) - i : i);
  const a = new Float64Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    // blur(y)[o] = Σ_k kernel[k] · y[reflect(o + k − r)], and y[u] = (1 − l1[u])·x[i0[u]] + l1[u]·x[i1[u]].
    for (let k = 0; k < size; k++) {
      const u = reflect(o + k - r);
      const w1 = taps.l1[u];
      a[o * inSize + taps.i0[u]] += kernel[k] * (1 - w1);
      a[o * inSize + taps.i1[u]] += kernel[k] * w1;
    }
  }
  return a;
}
