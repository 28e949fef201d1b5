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
export function aupro(maps: readonly Float32Array[], masks: readonly Uint8Array[], shape: { h: number; w: number }, fprLimit = 0.3): number {
  assertFprLimit('aupro', fprLimit);
  let area = 0;
  let px = 0;
  let py = 0;
  proCurveSweep('aupro', maps, masks, shape, fprLimit, (x, y) => {
    area += 0.5 * (y + py) * (x - px);
    px = x;
    py = y;
  });
  return area / fprLimit;
}

/**
 * The points of the per-region-overlap curve that aupro integrates, from (0, 0) up to FPR
 * `fprLimit` (the last point interpolated linearly at the limit, as MVTec's code does): one point
 * per distinct score, so a whole test set gives up to millions. `minStep` keeps only the points
 * that move FPR or PRO by at least that much from the last one kept (the first and last always
 * stay), enough to plot the curve.
 */
export function proCurve(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  shape: { h: number; w: number },
  fprLimit = 0.3,
  minStep = 0,
): { fpr: Float64Array; pro: Float64Array } {
  assertFprLimit('proCurve', fprLimit);
  const fpr: number[] = [0];
  const pro: number[] = [0];
  proCurveSweep('proCurve', maps, masks, shape, fprLimit, (x, y, last) => {
    const k = fpr.length - 1;
    if (!last && Math.abs(x - fpr[k]) < minStep && Math.abs(y - pro[k]) < minStep) return;
    fpr.push(x);
    pro.push(y);
  });
  return { fpr: Float64Array.from(fpr), pro: Float64Array.from(pro) };
}

function assertFprLimit(name: string, fprLimit: number): void {
  if (!(fprLimit > 0 && fprLimit <= 1)) throw new RangeError(`${name}: fprLimit must be in (0, 1], got ${fprLimit}`);
}

/**
 * Visits the PRO curve's points after (0, 0) in increasing FPR, up to and including the point at
 * `fprLimit` (interpolated when no score falls exactly there); `last` marks that final point.
 */
function proCurveSweep(
  name: string,
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  shape: { h: number; w: number },
  fprLimit: number,
  visit: (fpr: number, pro: number, last: boolean) => void,
): void {
  assertMapsAndMasks(name, maps, masks, shape);
  const n = shape.h * shape.w;

  let anomalousPixels = 0;
  for (const mask of masks) for (let i = 0; i < n; i++) if (mask[i] !== 0) anomalousPixels++;
  const normalPixels = maps.length * n - anomalousPixels;
  if (anomalousPixels === 0) throw new RangeError(`${name}: masks contain no anomalous pixel, so there is no region to overlap`);
  if (normalPixels === 0) throw new RangeError(`${name}: masks contain no normal pixel, so the false positive rate is undefined`);

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

  // MVTec's trapezoid(x, y, x_max) takes the points while x <= limit; at the first point past
  // it, the curve is interpolated at the limit (unless the limit was hit exactly), and it stops.
  let px = 0;
  let py = 0;
  const addPoint = (x: number, y: number): boolean => {
    if (x > fprLimit) {
      if (px !== fprLimit) visit(fprLimit, py + ((y - py) * (fprLimit - px)) / (x - px), true);
      return true;
    }
    visit(x, y, x === fprLimit);
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
    if (addPoint(fpr, pro)) return;
  }
  addPoint(1, 1);
}
