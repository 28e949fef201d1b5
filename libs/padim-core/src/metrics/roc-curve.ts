import { sortByClass } from './sort-by-class';
import { assertBothClasses, assertScoresAndLabels } from './validate';

/**
 * ROC curve with one point per distinct score (predict positive when score >= threshold),
 * in decreasing threshold order, starting at (0, 0) with threshold +Infinity, like sklearn's
 * `roc_curve(..., drop_intermediate=False)`.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): { fpr: Float64Array; tpr: Float64Array; thresholds: Float64Array } {
  const positives = assertScoresAndLabels('rocCurve', scores, labels);
  const negatives = scores.length - positives;
  assertBothClasses('rocCurve', positives, negatives);
  const { pos, neg } = sortByClass(scores, labels, positives);

  // First sweep counts the distinct thresholds, the second fills the arrays.
  let points = 1;
  sweep(() => points++);
  const fpr = new Float64Array(points);
  const tpr = new Float64Array(points);
  const thresholds = new Float64Array(points);
  thresholds[0] = Infinity;
  let k = 1;
  sweep((t, tp, fp) => {
    fpr[k] = fp / negatives;
    tpr[k] = tp / positives;
    thresholds[k] = t;
    k++;
  });
  return { fpr, tpr, thresholds };

  function sweep(visit: (t: number, tp: number, fp: number) => void): void {
    let i = pos.length;
    let j = neg.length;
    while (i > 0 || j > 0) {
      const t = i === 0 ? neg[j - 1] : j === 0 ? pos[i - 1] : Math.max(pos[i - 1], neg[j - 1]);
      while (i > 0 && pos[i - 1] === t) i--;
      while (j > 0 && neg[j - 1] === t) j--;
      visit(t, pos.length - i, neg.length - j);
    }
  }
}
