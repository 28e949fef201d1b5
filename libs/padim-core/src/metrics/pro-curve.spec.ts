import { aupro, proCurve } from './aupro';

function trapezoidArea(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let area = 0;
  for (let k = 1; k < x.length; k++) area += 0.5 * (y[k] + y[k - 1]) * (x[k] - x[k - 1]);
  return area;
}

describe('proCurve', () => {
  // One 2×3 image: a 2-pixel region scoring 0.9 and 0.5, four normal pixels scoring 0.8, 0.4, 0.3, 0.1.
  const maps = [Float32Array.of(0.9, 0.5, 0.8, 0.4, 0.3, 0.1)];
  const masks = [Uint8Array.of(1, 1, 0, 0, 0, 0)];
  const shape = { h: 2, w: 3 };

  it('has one point per distinct score from (0, 0), ending interpolated at the FPR limit', () => {
    // Hand-computed: t = 0.9 -> (0, 0.5); 0.8 -> (0.25, 0.5); 0.5 -> (0.25, 1); 0.4 -> FPR 0.5, past 0.3,
    // so the curve ends at (0.3, 1), between (0.25, 1) and (0.5, 1).
    const { fpr, pro } = proCurve(maps, masks, shape, 0.3);
    expect(Array.from(fpr)).toEqual([0, 0, 0.25, 0.25, 0.3]);
    expect(Array.from(pro)).toEqual([0, 0.5, 0.5, 1, 1]);
    // The area 0.25·0.5 + 0.05·1 over the limit is the AUPRO.
    expect(aupro(maps, masks, shape, 0.3)).toBeCloseTo(0.175 / 0.3, 12);
  });

  it('its trapezoid area over the limit equals aupro on random maps, for several limits', () => {
    let s = 12345;
    const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const side = 24;
    const randomMaps = Array.from({ length: 5 }, () => Float32Array.from({ length: side * side }, () => Math.round(rand() * 200) / 200));
    const randomMasks = randomMaps.map((_, m) =>
      Uint8Array.from({ length: side * side }, (_, i) => (m > 1 && i % side > 5 && i % side < 12 && i > side * 4 && i < side * 10 ? 1 : 0)),
    );
    for (const limit of [0.05, 0.3, 1]) {
      const { fpr, pro } = proCurve(randomMaps, randomMasks, { h: side, w: side }, limit);
      expect(fpr[fpr.length - 1]).toBe(limit);
      for (let k = 1; k < fpr.length; k++) expect(fpr[k]).toBeGreaterThanOrEqual(fpr[k - 1]);
      expect(Math.abs(trapezoidArea(fpr, pro) / limit - aupro(randomMaps, randomMasks, { h: side, w: side }, limit))).toBeLessThan(1e-12);
    }
  });

  it('minStep keeps fewer points, still from (0, 0) to the limit', () => {
    const side = 32;
    const map = Float32Array.from({ length: side * side }, (_, i) => (i * 7919) % 1009);
    const mask = Uint8Array.from({ length: side * side }, (_, i) => (i % side < 8 && i < side * 8 ? 1 : 0));
    const full = proCurve([map], [mask], { h: side, w: side }, 0.3);
    const thin = proCurve([map], [mask], { h: side, w: side }, 0.3, 0.01);
    expect(thin.fpr.length).toBeLessThan(full.fpr.length / 4);
    expect([thin.fpr[0], thin.pro[0]]).toEqual([0, 0]);
    expect(thin.fpr[thin.fpr.length - 1]).toBe(0.3);
    expect(thin.pro[thin.pro.length - 1]).toBe(full.pro[full.pro.length - 1]);
  });

  it('rejects a limit outside (0, 1]', () => {
    expect(() => proCurve(maps, masks, shape, 0)).toThrow(/proCurve: fprLimit must be in \(0, 1\]/);
  });
});
