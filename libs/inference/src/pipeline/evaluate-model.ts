import { aupro, auroc, f1Max } from '@padim-fleet/padim-core';
import type { LabelledImage } from '../datasets/mvtec';
import { PadimScorer } from './padim-scorer';
import { ProgressListener } from './progress';
import { ScoredImage, scoreImages } from './score-images';

export interface EvaluationMetrics {
  imageAUROC: number;
  pixelAUROC: number;
  /** Area under the per-region-overlap curve up to FPR 0.3, normalised (MVTec AD's AUPRO). */
  aupro: number;
  imageF1: number;
  pixelF1: number;
  imageF1Threshold: number;
  pixelF1Threshold: number;
  minScore: number;
  maxScore: number;
  images: number;
  anomalous: number;
  failed: number;
}

/** Scores a labelled test set and computes image- and pixel-level metrics. Failed images are counted, not scored. */
export async function evaluateModel(
  scorer: PadimScorer,
  testSet: LabelledImage[],
  opts: { batchSize?: number; onProgress?: ProgressListener } = {},
): Promise<{ metrics: EvaluationMetrics; results: ScoredImage<LabelledImage>[] }> {
  const results = await scoreImages(scorer, testSet, { batchSize: opts.batchSize, collectMaps: true, onProgress: opts.onProgress, stage: 'evaluate' });
  const ok = results.filter((r) => r.error === undefined);
  const scores = ok.map((r) => r.score!);
  const labels = ok.map((r) => r.item.label);
  const side = scorer.side;
  const plane = side * side;
  const maps = ok.map((r) => r.map!);
  const masks = ok.map((r) => r.mask ?? new Uint8Array(plane));
  const { scores: pixelScores, labels: pixelLabels } = flattenPixels(maps, masks);
  const image = f1Max(scores, labels);
  const pixel = f1Max(pixelScores, pixelLabels);
  const metrics: EvaluationMetrics = {
    imageAUROC: auroc(scores, labels),
    pixelAUROC: auroc(pixelScores, pixelLabels),
    aupro: aupro(maps, masks, { h: side, w: side }, 0.3),
    imageF1: image.f1,
    pixelF1: pixel.f1,
    imageF1Threshold: image.threshold,
    pixelF1Threshold: pixel.threshold,
    minScore: Math.min(...scores),
    maxScore: Math.max(...scores),
    images: ok.length,
    anomalous: labels.filter((l) => l === 1).length,
    failed: results.length - ok.length,
  };
  // Maps are large; callers that need them keep their own.
  for (const r of results) delete r.map;
  return { metrics, results };
}

/** Concatenates per-image maps and masks into one pixel score array and one label array. */
export function flattenPixels(maps: Float32Array[], masks: Uint8Array[]): { scores: Float32Array; labels: Uint8Array } {
  const total = maps.reduce((a, m) => a + m.length, 0);
  const scores = new Float32Array(total);
  const labels = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < maps.length; i++) {
    scores.set(maps[i], o);
    labels.set(masks[i], o);
    o += maps[i].length;
  }
  return { scores, labels };
}
