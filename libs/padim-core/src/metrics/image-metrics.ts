import { aurocSorted } from './auroc';
import { f1MaxSorted } from './f1-max';
import { sortByClass } from './sort-by-class';
import { assertBothClasses, assertScoresAndLabels } from './validate';

/**
 * Image-level AUROC and F1-max (anomalib's image metrics) from one score per image.
 *
 * @param labels 1 = anomalous image, 0 = normal; both classes required
 */
export function imageMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>): { auroc: number; f1: number; threshold: number } {
  const positives = assertScoresAndLabels('imageMetrics', scores, labels);
  assertBothClasses('imageMetrics', positives, scores.length - positives);
  const { pos, neg } = sortByClass(scores, labels, positives);
  const { f1, threshold } = f1MaxSorted(pos, neg);
  return { auroc: aurocSorted(pos, neg), f1, threshold };
}
