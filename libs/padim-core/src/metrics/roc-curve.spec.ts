import { auroc } from './auroc';
import { rocCurve } from './roc-curve';

describe('rocCurve', () => {
  it('has one point per distinct score, from (0,0) at +Infinity to (1,1)', () => {
    // Hand-computed (3 positives, 2 negatives): t = 0.8 -> tp 1 fp 0; t = 0.4 (a positive and a negative tie)
    // -> tp 2 fp 1; t = 0.35 -> tp 3 fp 1; t = 0.1 -> tp 3 fp 2.
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4];
    const labels = [0, 0, 1, 1, 1];
    const { fpr, tpr, thresholds } = rocCurve(scores, labels);
    expect(Array.from(thresholds)).toEqual([Infinity, 0.8, 0.4, 0.35, 0.1]);
    expect(Array.from(tpr)).toEqual([0, 1 / 3, 2 / 3, 1, 1]);
    expect(Array.from(fpr)).toEqual([0, 0, 0.5, 0.5, 1]);
  });

  it('its trapezoid area equals auroc (ties are diagonal segments)', () => {
    const scores = [1, 2, 2, 3, 3, 3, 4, 0, 2, 5];
    const labels = [0, 1, 0, 1, 0, 0, 1, 0, 1, 1];
    const { fpr, tpr } = rocCurve(scores, labels);
    let area = 0;
    for (let k = 1; k < fpr.length; k++) area += 0.5 * (tpr[k] + tpr[k - 1]) * (fpr[k] - fpr[k - 1]);
    expect(Math.abs(area - auroc(scores, labels))).toBeLessThan(1e-12);
  });

  it('needs both classes', () => {
    expect(() => rocCurve([1, 2], [0, 0])).toThrow(/rocCurve: needs both classes/);
  });
});
