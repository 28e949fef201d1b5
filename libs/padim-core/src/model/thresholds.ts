import { f1Max } from '../metrics';
import type { FalsePositives, ModelThresholds } from './model-manifest';

/**
 * How a threshold is set from normal images: mean + k·std of their scores, or the score that leaves a
 * target fraction of them (the false-positive rate) at or above it. Mirrors `thresholdRule` in
 * libs/contracts, which validates it where it comes in.
 */
export type ThresholdRule = { kind: 'sigma'; k: number } | { kind: 'fpr'; fpr: number };

export const DEFAULT_THRESHOLD_RULE: ThresholdRule = { kind: 'sigma', k: 3 };

function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - mean) ** 2;
  return { mean, std: values.length > 1 ? Math.sqrt(sq / (values.length - 1)) : 0 };
}

/** The next double above x: a threshold that lets x itself through as normal (labels are score >= threshold). */
function nextAbove(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const f = new Float64Array([x]);
  const bits = new BigInt64Array(f.buffer);
  bits[0] += x > 0 ? 1n : -1n;
  return f[0];
}

function formatRate(rate: number): string {
  return Number(rate.toPrecision(3)).toString();
}

/** Why n normal images cannot resolve an fpr target (the estimate moves in steps of 1/n), or undefined when they can. */
export function fprResolutionWarning(fpr: number, n: number): string | undefined {
  if (n > 0 && allowedFalsePositives(fpr, n) >= 1) return undefined;
  return (
    `fpr ${fpr} is finer than ${n} normal images resolve (steps of 1/${n} = ${formatRate(1 / n)}): ` +
    `the threshold is just above the highest normal score; ${Math.ceil(1 / fpr - 1e-9)} or more images resolve it`
  );
}

/** floor(fpr·n), at most n − 1; the epsilon absorbs products such as 0.29 · 100 = 28.999999999999996. */
function allowedFalsePositives(fpr: number, n: number): number {
  return Math.min(n - 1, Math.floor(fpr * n + 1e-9));
}

/**
 * The image threshold a rule gives on normal scores. An fpr rule allows floor(fpr·n) of the n normal
 * scores at or above the threshold, which lies halfway between the highest score let through and the
 * next one above it (above a run of tied scores, so the fraction never exceeds the target). The
 * estimate moves in steps of 1/n: a target below 1/n cannot be resolved, and the threshold is then just
 * above the highest normal score, with a warning saying how many images would resolve it.
 */
export function thresholdForRule(scores: ArrayLike<number>, rule: ThresholdRule): { threshold: number; warnings: string[] } {
  const n = scores.length;
  if (n === 0) throw new Error('thresholds need at least one normal image score');
  if (rule.kind === 'sigma') {
    const { mean, std } = meanStd(scores);
    return { threshold: mean + rule.k * std, warnings: [] };
  }
  const sorted = Float64Array.from(scores).sort();
  const allowed = allowedFalsePositives(rule.fpr, n);
  const highestNormal = sorted[n - 1 - allowed];
  let next = n - allowed;
  while (next < n && sorted[next] === highestNormal) next++;
  const threshold = next < n ? (highestNormal + sorted[next]) / 2 : nextAbove(highestNormal);
  const warning = fprResolutionWarning(rule.fpr, n);
  return { threshold, warnings: warning ? [warning] : [] };
}

/**
 * One-sided 95 % upper bound of a rate seen as `count` of `of` (Clopper-Pearson): the p at which
 * count or fewer events would happen only 5 % of the time. With no false positives among n images it
 * is 1 − 0.05^(1/n), about 3/n: what a small sample can promise.
 */
export function upperBound95(count: number, of: number): number {
  if (count >= of) return 1;
  const cdf = (p: number) => {
    // P(X <= count) for X ~ Binomial(of, p), term by term in logs so large `of` does not underflow
    let logTerm = of * Math.log1p(-p);
    let sum = Math.exp(logTerm);
    for (let i = 0; i < count; i++) {
      logTerm += Math.log((of - i) / (i + 1)) + Math.log(p) - Math.log1p(-p);
      sum += Math.exp(logTerm);
    }
    return sum;
  };
  let lo = count / of;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** How many of the normal scores a threshold labels anomalous (score >= threshold), their fraction and its 95 % upper bound. */
export function falsePositivesAt(normalScores: ArrayLike<number>, threshold: number): FalsePositives {
  let count = 0;
  for (let i = 0; i < normalScores.length; i++) if (normalScores[i] >= threshold) count++;
  const of = normalScores.length;
  return { count, of, rate: of > 0 ? count / of : 0, upper95: of > 0 ? upperBound95(count, of) : 1 };
}

/**
 * Thresholds from normal images only (held out from fitting, or the training images themselves when
 * too few are held out): image = pixel = the rule's threshold on their image scores, with the fraction
 * of them it labels anomalous. The normalisation range is [min, 2·threshold − min], so the lowest
 * normal score maps to 0 and the threshold to 0.5.
 */
export function thresholdsFromNormalScores(
  scores: ArrayLike<number>,
  source: 'holdout' | 'training',
  rule: ThresholdRule = DEFAULT_THRESHOLD_RULE,
): ModelThresholds {
  const { threshold: image, warnings } = thresholdForRule(scores, rule);
  let min = Infinity;
  for (let i = 0; i < scores.length; i++) min = Math.min(min, scores[i]);
  if (source === 'training') {
    warnings.push(
      "set on the training images themselves (too few to hold any out): their scores run lower than new images', so the false-positive rate is optimistic",
    );
  }
  const named =
    rule.kind === 'fpr'
      ? { rule: `${source}-fpr` as const, targetFpr: rule.fpr }
      : { rule: rule.k === 3 ? (`${source}-mean-3std` as const) : (`${source}-mean-kstd` as const), k: rule.k };
  return {
    image,
    pixel: image,
    min,
    max: image + (image - min),
    ...named,
    sampleCount: scores.length,
    falsePositives: falsePositivesAt(scores, image),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * Thresholds from labelled validation images: the F1-optimal image threshold, and the F1-optimal
 * pixel threshold when masks are given (else the image threshold). min/max span the validation scores.
 * The false positives are counted among the normal (label 0) validation images.
 */
export function thresholdsFromValidation(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  pixels?: { scores: ArrayLike<number>; labels: ArrayLike<number> },
): ModelThresholds {
  const image = f1Max(scores, labels).threshold;
  const pixel = pixels ? f1Max(pixels.scores, pixels.labels).threshold : image;
  let min = Infinity;
  let max = -Infinity;
  const normalScores: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    min = Math.min(min, scores[i]);
    max = Math.max(max, scores[i]);
    if (labels[i] === 0) normalScores.push(scores[i]);
  }
  return { image, pixel, min, max, rule: 'validation-f1', sampleCount: scores.length, falsePositives: falsePositivesAt(normalScores, image) };
}
