import { sortByClass, type SortedScores } from './sort-by-class';
import { assertBothClasses, assertScoresAndLabels } from './validate';

/**
 * Exact area under the ROC curve, as the Mann–Whitney statistic: the fraction of
 * (positive, negative) pairs where the positive scores higher, ties counting ½. Equals
 * sklearn's `roc_auc_score` and torchmetrics' BinaryAUROC (no thresholds binning).
 * O(n log n): each class is sorted once and the two sorted lists are merge-counted.
 *
 * @param labels 1 = anomalous (positive), 0 = normal
 * @throws RangeError when only one class is present
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const positives = assertScoresAndLabels('auroc', scores, labels);
  assertBothClasses('auroc', positives, scores.length - positives);
  const { pos, neg } = sortByClass(scores, labels, positives);
  return aurocSorted(pos, neg);
}

/** AUROC from positive and negative scores already sorted ascending (both non-empty). */
export function aurocSorted(pos: SortedScores, neg: SortedScores): number {
  const p = pos.length;
  const n = neg.length;
  assertBothClasses('aurocSorted', p, n);
  let below = 0; // negatives strictly below the current positive value
  let atOrBelow = 0; // negatives <= the current positive value
  let twice = 0; // 2 × (wins + ties/2): an exact integer below 2^53 for any realistic n
  for (let i = 0; i < p;) {
    const v = pos[i];
    let j = i + 1;
    while (j < p && pos[j] === v) j++;
    while (below < n && neg[below] < v) below++;
    if (atOrBelow < below) atOrBelow = below;
    while (atOrBelow < n && neg[atOrBelow] === v) atOrBelow++;
    twice += (j - i) * (below + atOrBelow);
    i = j;
  }
  return twice / (2 * p * n);
}
