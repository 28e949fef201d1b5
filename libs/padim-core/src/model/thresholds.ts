import { f1Max } from '../metrics';
import type { ModelThresholds } from './model-manifest';

function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - mean) ** 2;
  return { mean, std: values.length > 1 ? Math.sqrt(sq / (values.length - 1)) : 0 };
}

/**
 * Thresholds from normal images only (held out from fitting, or the training images themselves when
 * too few are held out): image = pixel = mean + 3·std of their image scores. The normalisation range is
 * [min, 2·threshold − min], so the lowest normal score maps to 0 and the threshold to 0.5.
 */
export function thresholdsFromNormalScores(scores: ArrayLike<number>, rule: 'holdout-mean-3std' | 'training-mean-3std'): ModelThresholds {
  if (scores.length === 0) throw new Error('thresholds need at least one normal image score');
  const { mean, std } = meanStd(scores);
  let min = Infinity;
  for (let i = 0; i < scores.length; i++) min = Math.min(min, scores[i]);
  const image = mean + 3 * std;
  return { image, pixel: image, min, max: image + (image - min), rule, sampleCount: scores.length };
}

/**
 * Thresholds from labelled validation images: the F1-optimal image threshold, and the F1-optimal
 * pixel threshold when masks are given (else the image threshold). min/max span the validation scores.
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
  for (let i = 0; i < scores.length; i++) {
    min = Math.min(min, scores[i]);
    max = Math.max(max, scores[i]);
  }
  return { image, pixel, min, max, rule: 'validation-f1', sampleCount: scores.length };
}
