import { aupro, auroc, DEFAULT_BLOCKED_KERNEL_BYTES, f1Max } from '@padim-fleet/padim-core';
import { modelMemory } from '../runtime/memory-need';
import type { LabelledImage } from '@padim-fleet/contracts';
import { PadimScorer } from './padim-scorer';
import { ProgressListener } from './progress';
import { ScoredImage, scoreImages, scoreImagesInPasses } from './score-images';

export interface EvaluationMetrics {
  imageAUROC: number;
  /** The pixel metrics are null when the set has no ground-truth masks to compare with (pixelMetricsSkipped says why). */
  pixelAUROC: number | null;
  /** Area under the per-region-overlap curve up to FPR 0.3, normalised (MVTec AD's AUPRO). */
  aupro: number | null;
  imageF1: number;
  pixelF1: number | null;
  imageF1Threshold: number;
  pixelF1Threshold: number | null;
  /** Why the pixel metrics are null; null when they were computed. */
  pixelMetricsSkipped: string | null;
  minScore: number;
  maxScore: number;
  images: number;
  anomalous: number;
  failed: number;
}

/**
 * Scores a labelled test set and computes image- and pixel-level metrics. Failed images are counted, not
 * scored. A scorer with blocked distances (evaluationDistances) takes the images in passes, each block of
 * factors laid out once for a pass of images.
 */
export async function evaluateModel(
  scorer: PadimScorer,
  testSet: LabelledImage[],
  opts: {
    batchSize?: number;
    onProgress?: ProgressListener;
    /** Keep each image's anomaly map in the results (a report draws from them). */ keepMaps?: boolean;
  } = {},
): Promise<{ metrics: EvaluationMetrics; results: ScoredImage<LabelledImage>[] }> {
  const scoreOptions = { batchSize: opts.batchSize, collectMaps: true, onProgress: opts.onProgress, stage: 'evaluate' } as const;
  const results = scorer.distancesByPositionBlocks
    ? await scoreImagesInPasses(scorer, testSet, scoreOptions)
    : await scoreImages(scorer, testSet, scoreOptions);
  const metrics = evaluationMetrics(results, scorer.side);
  // Maps are large: dropped unless the caller asks for them.
  if (!opts.keepMaps) for (const r of results) delete r.map;
  return { metrics, results };
}

/**
 * How an evaluation computes distances: by blocks of positions from the factors where they are once the
 * whole-model kernel would take more than the blocked kernel's memory (DEFAULT_BLOCKED_KERNEL_BYTES;
 * resnet50 d=550: 2.6 GB of kernel beside 2.5 GB of factors, or beside the 5 GB accumulator the factors
 * of a model trained in the same process are written over), else the whole-model kernel.
 */
export function evaluationDistances(positions: number, d: number): 'auto' | 'blocked' {
  return modelMemory(positions, d).kernelBytes > DEFAULT_BLOCKED_KERNEL_BYTES ? 'blocked' : 'auto';
}

/**
 * The metrics of scored, labelled images (with their maps). Images that failed are counted, not
 * scored. The pixel metrics cover the normal images and the defective ones that have a mask; they
 * are null, with the reason in pixelMetricsSkipped, when no defective image has a mask (a test split
 * without ground_truth/) or the masks mark no anomalous pixel.
 *
 * @throws Error when the images that scored are not both normal and defective
 */
export function evaluationMetrics(results: ScoredImage<LabelledImage>[], side: number): EvaluationMetrics {
  const ok = results.filter((r) => r.error === undefined);
  const scores = ok.map((r) => r.score!);
  const labels = ok.map((r) => r.item.label);
  assertBothClassesScored(results, labels);
  const image = f1Max(scores, labels);
  const pixelSet = pixelLabelledImages(ok);
  let pixel: Pick<EvaluationMetrics, 'pixelAUROC' | 'aupro' | 'pixelF1' | 'pixelF1Threshold'> = {
    pixelAUROC: null,
    aupro: null,
    pixelF1: null,
    pixelF1Threshold: null,
  };
  if (pixelSet.images) {
    const { maps, masks } = pixelSet.images;
    const flat = flattenPixels(maps, masks);
    const f1 = f1Max(flat.scores, flat.labels);
    pixel = {
      pixelAUROC: auroc(flat.scores, flat.labels),
      aupro: aupro(maps, masks, { h: side, w: side }, 0.3),
      pixelF1: f1.f1,
      pixelF1Threshold: f1.threshold,
    };
  }
  return {
    imageAUROC: auroc(scores, labels),
    pixelAUROC: pixel.pixelAUROC,
    aupro: pixel.aupro,
    imageF1: image.f1,
    pixelF1: pixel.pixelF1,
    imageF1Threshold: image.threshold,
    pixelF1Threshold: pixel.pixelF1Threshold,
    pixelMetricsSkipped: pixelSet.skipped,
    minScore: Math.min(...scores),
    maxScore: Math.max(...scores),
    images: ok.length,
    anomalous: labels.filter((l) => l === 1).length,
    failed: results.length - ok.length,
  };
}

/** The metrics a model version stores in its manifest (null: not measurable on that set). */
export function storedMetrics(m: EvaluationMetrics): Record<string, number | null> {
  return { imageAUROC: m.imageAUROC, pixelAUROC: m.pixelAUROC, aupro: m.aupro, imageF1: m.imageF1, pixelF1: m.pixelF1 };
}

/**
 * The maps and masks with known pixel labels: normal images (all zeros) and defective images with a
 * mask; null with the reason when they hold no anomalous pixel to measure against.
 */
export function pixelLabelledImages(
  scored: ScoredImage<LabelledImage>[],
): { images: { maps: Float32Array[]; masks: Uint8Array[] }; skipped: null } | { images: null; skipped: string } {
  const defective = scored.filter((r) => r.item.label === 1);
  const withMask = defective.filter((r) => r.mask !== undefined);
  if (withMask.length === 0) {
    return {
      images: null,
      skipped: `no ground-truth masks for the ${defective.length} defective images (no ground_truth/<defect>/<name>_mask.png): pixel metrics need them`,
    };
  }
  if (!withMask.some((r) => r.mask!.some((v) => v !== 0))) {
    return { images: null, skipped: `the ${withMask.length} ground-truth masks mark no anomalous pixel: pixel metrics need some` };
  }
  const used = scored.filter((r) => r.item.label === 0 || r.mask !== undefined);
  return { images: { maps: used.map((r) => r.map!), masks: used.map((r) => r.mask ?? new Uint8Array(r.map!.length)) }, skipped: null };
}

/** Image metrics need normal and defective images that scored: name what is missing and why. */
function assertBothClassesScored(results: ScoredImage<LabelledImage>[], labels: number[]): void {
  for (const [label, kind] of [
    [0, 'normal (good)'],
    [1, 'defective'],
  ] as const) {
    if (labels.includes(label)) continue;
    const failed = results.filter((r) => r.item.label === label && r.error !== undefined);
    const why = failed.length > 0 ? `: all ${failed.length} failed to score (first: ${failed[0].item.file}: ${failed[0].error})` : ': there are none';
    throw new Error(`evaluation needs both normal and defective images that score, and no ${kind} image scored${why}`);
  }
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
