export { aupro, proCurve } from './aupro';
export { auroc, aurocSorted } from './auroc';
export { connectedComponents } from './connected-components';
export { f1Max, f1MaxSorted, type F1MaxResult } from './f1-max';
export { imageMetrics } from './image-metrics';
export { pixelAurocF1, type PixelMetrics } from './pixel-metrics';
export { radixSortFloat32, radixSortFloat32Pairs } from './radix-sort';
export { rocCurve } from './roc-curve';
export { sortByClass, type SortedScores } from './sort-by-class';
export {
  assertBinaryLabels,
  assertBothClasses,
  assertFiniteScores,
  assertMapsAndMasks,
  assertNonEmpty,
  assertSameLength,
  assertScoresAndLabels,
} from './validate';
