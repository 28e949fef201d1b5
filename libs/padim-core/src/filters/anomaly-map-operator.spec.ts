import { resizeBilinear } from '../image/resize-bilinear';
import { anomalyMapOperator } from './anomaly-map-operator';
import { gaussianBlur } from './gaussian-blur';

/** A_h · D · A_wᵀ in float64. */
function applyOperators(d: Float32Array, h: number, w: number, ah: Float64Array, aw: Float64Array, outH: number, outW: number): Float64Array {
  const tmp = new Float64Array(outH * w);
  for (let o = 0; o < outH; o++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) tmp[o * w + j] += ah[o * h + i] * d[i * w + j];
  const out = new Float64Array(outH * outW);
  for (let o = 0; o < outH; o++) for (let p = 0; p < outW; p++) for (let j = 0; j < w; j++) out[o * outW + p] += tmp[o * w + j] * aw[p * w + j];
  return out;
}

describe('anomalyMapOperator', () => {
  it.each([
    [64, 64, 256, 256, 4],
    [56, 56, 224, 224, 4],
    [10, 12, 40, 48, 4],
    [7, 5, 21, 20, 2],
  ])('%ix%i → %ix%i, sigma %i: A_h·D·A_wᵀ is gaussianBlur(resizeBilinear(D))', (h, w, outH, outW, sigma) => {
    let seed = h * 31 + w;
    const d = Float32Array.from({ length: h * w }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 30);
    const expected = gaussianBlur(resizeBilinear(d, { c: 1, h, w }, outH, outW), { h: outH, w: outW }, sigma);
    const got = applyOperators(d, h, w, anomalyMapOperator(h, outH, sigma), anomalyMapOperator(w, outW, sigma), outH, outW);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
    expect(worst).toBeLessThan(1e-5);
  });

  it('keeps constants (rows sum to 1) and refuses a kernel wider than the output', () => {
    const a = anomalyMapOperator(16, 64, 4);
    for (let o = 0; o < 64; o++) expect(a.subarray(o * 16, (o + 1) * 16).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    expect(() => anomalyMapOperator(4, 16, 4)).toThrow(/kernel radius 16 needs an output larger than 16/);
  });
});
