import { radixSortFloat32 } from './radix-sort';

/** Scores of one class, sorted ascending. */
export type SortedScores = Float32Array | Float64Array;

/**
 * Splits scores by 0/1 label and sorts each class ascending. Float32Array input stays f32
 * (radix sort); anything else is sorted as f64 so distinct doubles are never merged into ties.
 * Inputs must already be validated; `positives` is the number of labels equal to 1.
 */
export function sortByClass(scores: ArrayLike<number>, labels: ArrayLike<number>, positives: number): { pos: SortedScores; neg: SortedScores } {
  const n = scores.length;
  if (scores instanceof Float32Array) {
    const pos = new Float32Array(positives);
    const neg = new Float32Array(n - positives);
    split(scores, labels, pos, neg);
    return { pos: radixSortFloat32(pos), neg: radixSortFloat32(neg) };
  }
  const pos = new Float64Array(positives);
  const neg = new Float64Array(n - positives);
  split(scores, labels, pos, neg);
  return { pos: pos.sort(), neg: neg.sort() };
}

function split(scores: ArrayLike<number>, labels: ArrayLike<number>, pos: SortedScores, neg: SortedScores): void {
  let p = 0;
  let q = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
}
