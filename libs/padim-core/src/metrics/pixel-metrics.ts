import { aurocSorted } from './auroc';
import { f1MaxSorted } from './f1-max';
import { radixSortFloat32 } from './radix-sort';
import { assertBothClasses, assertFiniteScores, assertNonEmpty, assertSameLength } from './validate';

export interface PixelMetrics {
  auroc: number;
  f1: number;
  /** Predict anomalous when score >= threshold. */
  threshold: number;
  precision: number;
  recall: number;
}

/**
 * Pixel-level AUROC and F1-max over many anomaly maps, as if all pixels were one flat list
 * (anomalib's pixel metrics). Pixels are copied once into two f32 arrays, one per class, and
 * sorted; both metrics share that sort. Peak extra memory is about 12 bytes per pixel.
 *
 * @param maps  anomaly maps, any sizes
 * @param masks ground truth with the same length as each map, nonzero = anomalous
 */
export function pixelAurocF1(maps: readonly Float32Array[], masks: readonly Uint8Array[]): PixelMetrics {
  const fn = 'pixelAurocF1';
  assertSameLength(fn, 'maps', maps, 'masks', masks);
  assertNonEmpty(fn, 'maps', maps);
  let total = 0;
  let positives = 0;
  for (let m = 0; m < maps.length; m++) {
    if (maps[m].length !== masks[m].length) {
      throw new RangeError(`${fn}: maps[${m}] has length ${maps[m].length} but masks[${m}] has ${masks[m].length}`);
    }
    assertFiniteScores(fn, `maps[${m}]`, maps[m]);
    const mask = masks[m];
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) positives++;
    total += mask.length;
  }
  assertBothClasses(fn, positives, total - positives);

  const pos = new Float32Array(positives);
  const neg = new Float32Array(total - positives);
  let p = 0;
  let q = 0;
  for (let m = 0; m < maps.length; m++) {
    const map = maps[m];
    const mask = masks[m];
    for (let i = 0; i < map.length; i++) {
      if (mask[i] !== 0) pos[p++] = map[i];
      else neg[q++] = map[i];
    }
  }
  const sortedPos = radixSortFloat32(pos);
  const sortedNeg = radixSortFloat32(neg);
  return { auroc: aurocSorted(sortedPos, sortedNeg), ...f1MaxSorted(sortedPos, sortedNeg) };
}
