import * as ort from 'onnxruntime-node';
import { randomFloats } from '../testing/random-floats';
import { buildBatchMomentsGraph } from './moments-graph';

/** Per-position mean [P, d] and comoment Σ_b (x−m)(x−m)ᵀ [P, d, d] in f64 loops; embedding [B, d, P]. */
function referenceMoments(x: Float32Array, B: number, d: number, P: number): { mean: Float64Array; comoment: Float64Array } {
  const mean = new Float64Array(P * d);
  const comoment = new Float64Array(P * d * d);
  const centred = new Float64Array(B * d);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let b = 0; b < B; b++) s += x[(b * d + i) * P + p];
      mean[p * d + i] = s / B;
      for (let b = 0; b < B; b++) centred[b * d + i] = x[(b * d + i) * P + p] - s / B;
    }
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let b = 0; b < B; b++) s += centred[b * d + i] * centred[b * d + j];
        comoment[(p * d + i) * d + j] = s;
      }
    }
  }
  return { mean, comoment };
}

function expectClose(got: Float64Array, expected: Float64Array, scale: number): void {
  expect(got.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]) / Math.max(Math.abs(expected[i]), scale));
  expect(worst).toBeLessThanOrEqual(1e-9);
}

describe('buildBatchMomentsGraph', () => {
  it.each([
    [1, 1, 1],
    [2, 3, 5],
    [8, 10, 17],
    [5, 20, 64],
  ])('matches f64 loops for B=%i, d=%i, P=%i within 1e-9 relative', async (B, d, P) => {
    const x = randomFloats(B * d * P, B + d + P, -4, 4);
    const session = await ort.InferenceSession.create(buildBatchMomentsGraph(d));
    const out = await session.run({ embedding: new ort.Tensor('float32', x, [B, d, P]) });
    expect(out.batch_mean.type).toBe('float64');
    expect(out.batch_mean.dims).toEqual([P, d]);
    expect(out.batch_comoment.dims).toEqual([P, d, d]);
    const expected = referenceMoments(x, B, d, P);
    expectClose(out.batch_mean.data as Float64Array, expected.mean, 1e-3);
    expectClose(out.batch_comoment.data as Float64Array, expected.comoment, 1e-3);
  });

  it('is position-count agnostic: blocks of positions give the same moments as the whole', async () => {
    const [B, d, P] = [4, 6, 10];
    const x = randomFloats(B * d * P, 77);
    const session = await ort.InferenceSession.create(buildBatchMomentsGraph(d));
    const whole = await session.run({ embedding: new ort.Tensor('float32', x, [B, d, P]) });
    const [from, to] = [3, 8];
    const block = new Float32Array(B * d * (to - from));
    for (let r = 0; r < B * d; r++) block.set(x.subarray(r * P + from, r * P + to), r * (to - from));
    const part = await session.run({ embedding: new ort.Tensor('float32', block, [B, d, to - from]) });
    expect(part.batch_comoment.data).toEqual((whole.batch_comoment.data as Float64Array).subarray(from * d * d, to * d * d));
    expect(part.batch_mean.data).toEqual((whole.batch_mean.data as Float64Array).subarray(from * d, to * d));
  });

});
