import { connectedComponents } from './connected-components';
import { radixSortFloat32, radixSortFloat32Pairs } from './radix-sort';
import { assertMapsAndMasks } from './validate';

/**
 * Normalised area under the per-region-overlap curve up to `fprLimit`, as MVTec AD's official
 * evaluation code (`compute_pro` + `trapezoid`, 8-connected ground-truth regions):
 * - the curve has one point per distinct score t (pixels with score >= t predicted anomalous),
 *   plus (0, 0) and (1, 1);
 * - FPR(t) = share of all normal pixels (mask 0, over all images) scoring >= t;
 * - PRO(t) = mean over every region of every image of the share of its pixels scoring >= t;
 * - the trapezoid rule integrates PRO over FPR in [0, fprLimit], interpolating the curve
 *   linearly at fprLimit, and the area is divided by fprLimit.
 * Images without anomalies contribute only normal pixels.
 *
 * O(N log N) in the number of pixels: the normal and the anomalous pixels are each sorted
 * once, then one descending sweep moves FPR by 1/Nnormal per normal pixel and PRO by
 * 1/(|region|·R) per anomalous pixel, equal scores moving together.
 *
 * @param maps  one anomaly map per image, each h*w
 * @param masks ground truth per image, nonzero = anomalous
 */
export function aupro(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  shape: { h: number; w: number },
  fprLimit = 0.3,
): number {
  assertMapsAndMasks('aupro', maps, masks, shape);
  if (!(fprLimit > 0 && fprLimit <= 1)) throw new RangeError(`aupro: fprLimit must be in (0, 1], got ${fprLimit}`);
  const n = shape.h * shape.w;

  let anomalousPixels = 0;
  for (const mask of masks) for (let i = 0; i < n; i++) if (mask[i] !== 0) anomalousPixels++;
  const normalPixels = maps.length * n - anomalousPixels;
  if (anomalousPixels === 0) throw new RangeError('aupro: masks contain no anomalous pixel, so there is no region to overlap');
  if (normalPixels === 0) throw new RangeError('aupro: masks contain no normal pixel, so the false positive rate is undefined');

  // Gather normal scores, and anomalous scores tagged with a dataset-wide region id.
  const normal = new Float32Array(normalPixels);
  const anomalous = new Float32Array(anomalousPixels);
  const regionOf = new Int32Array(anomalousPixels);
  const regionSizes: number[] = [];
  let a = 0;
  let b = 0;
  for (let m = 0; m < maps.length; m++) {
    const map = maps[m];
    const { labels, count } = connectedComponents(masks[m], shape, 8);
    const base = regionSizes.length - 1; // label k (1-based) -> region base + k
    for (let k = 0; k < count; k++) regionSizes.push(0);
    for (let i = 0; i < n; i++) {
      const label = labels[i];
      if (label === 0) {
        normal[a++] = map[i];
      } else {
        anomalous[b] = map[i];
        regionOf[b++] = base + label;
        regionSizes[base + label]++;
      }
    }
  }
  const regions = regionSizes.length;
  const gain = Float64Array.from(regionSizes, (size) => 1 / size);

  const neg = radixSortFloat32(normal);
  const { values: pos, payload: posRegion } = radixSortFloat32Pairs(anomalous, regionOf);

  // Streaming version of MVTec's trapezoid(x, y, x_max): sum segments while x <= limit; at the
  // first point past it, add the partial segment to the interpolated value (unless the limit
  // was hit exactly) and stop.
  let px = 0;
  let py = 0;
  let area = 0;
  const addPoint = (x: number, y: number): boolean => {
    if (x > fprLimit) {
      if (px !== fprLimit) {
        const yLimit = py + ((y - py) * (fprLimit - px)) / (x - px);
        area += 0.5 * (yLimit + py) * (fprLimit - px);
      }
      return true;
    }
    area += 0.5 * (y + py) * (x - px);
    px = x;
    py = y;
    return false;
  };

  let i = neg.length;
  let j = pos.length;
  let overlapSum = 0; // sum over regions of the share of the region above threshold
  while (i > 0 || j > 0) {
    const t = i === 0 ? pos[j - 1] : j === 0 ? neg[i - 1] : Math.max(neg[i - 1], pos[j - 1]);
    while (i > 0 && neg[i - 1] === t) i--;
    while (j > 0 && pos[j - 1] === t) overlapSum += gain[posRegion[--j]];
    // MVTec clips both to 1 against rounding
    const fpr = Math.min(1, (normalPixels - i) / normalPixels);
    const pro = Math.min(1, overlapSum / regions);
    if (addPoint(fpr, pro)) return area / fprLimit;
  }
  addPoint(1, 1);
  return area / fprLimit;
}
