import { imageMetrics } from './image-metrics';

describe('imageMetrics', () => {
  it('hand-checked: AUROC by pair count and F1-max threshold', () => {
    // positives {0.9, 0.5, 0.3}, negatives {0.5, 0.1}: wins 2 + 1.5 + 1 = 4.5 of 6 pairs -> 0.75;
    // F1 is best (6/7) at threshold 0.3, see f1-max.spec.ts
    const r = imageMetrics([0.9, 0.5, 0.5, 0.3, 0.1], [1, 1, 0, 1, 0]);
    expect(r.auroc).toBe(0.75);
    expect(r.f1).toBeCloseTo(6 / 7, 12);
    expect(r.threshold).toBe(0.3);
  });

  it('needs both classes', () => {
    expect(() => imageMetrics([0.2, 0.4], [1, 1])).toThrow(/imageMetrics: needs both classes/);
  });
});
