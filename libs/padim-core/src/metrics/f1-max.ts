import { sortByClass, type SortedScores } from './sort-by-class';
import { assertScoresAndLabels } from './validate';

export interface F1MaxResult {
  f1: number;
  /** Predict anomalous when score >= threshold. */
  threshold: number;
  precision: number;
  recall: number;
}

/**
 * Best F1 over all thresholds, as anomalib's F1Max (torchmetrics' precision-recall curve, one
 * threshold per distinct score, predicting positive when score >= threshold). Equal scores move
 * together. Among thresholds with the same F1 the lowest is returned, as torch's argmax over
 * ascending thresholds does. F1 is computed as 2·TP / (2·TP + FP + FN), exact for ties
 * (anomalib adds 1e-10 to the denominator, which changes nothing visible).
 *
 * @param labels 1 = anomalous (positive), 0 = normal; at least one positive is required
 */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): F1MaxResult {
  const positives = assertScoresAndLabels('f1Max', scores, labels);
  if (positives === 0) throw new RangeError('f1Max: needs at least one positive label; F1 is undefined without positives');
  const { pos, neg } = sortByClass(scores, labels, positives);
  return f1MaxSorted(pos, neg);
}

/** F1-max from positive and negative scores already sorted ascending (at least one positive). */
export function f1MaxSorted(pos: SortedScores, neg: SortedScores): F1MaxResult {
  const p = pos.length;
  if (p === 0) throw new RangeError('f1MaxSorted: needs at least one positive score');
  const n = neg.length;
  let best: F1MaxResult = { f1: -1, threshold: NaN, precision: NaN, recall: NaN };
  let i = p;
  let j = n;
  while (i > 0 || j > 0) {
    const t = i === 0 ? neg[j - 1] : j === 0 ? pos[i - 1] : Math.max(pos[i - 1], neg[j - 1]);
    while (i > 0 && pos[i - 1] === t) i--;
    while (j > 0 && neg[j - 1] === t) j--;
    const tp = p - i;
    const fp = n - j;
    const f1 = (2 * tp) / (tp + fp + p);
    // >= : thresholds decrease, so ties resolve to the lowest threshold
    if (f1 >= best.f1) best = { f1, threshold: t, precision: tp / (tp + fp), recall: tp / p };
  }
  return best;
}
