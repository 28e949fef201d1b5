import {
  EmbeddingSelection,
  ModelManifest,
  ModelThresholds,
  ThresholdRule,
  featureCount,
  thresholdsFromNormalScores,
  thresholdsFromValidation,
} from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import type { LabelledImage } from '@padim-fleet/contracts';
import type { ModelTensors } from '../model-io/model-folder';
import type { EmbeddingExtractor, RuntimeOptions } from './embedding-extractor';
import { flattenPixels } from './evaluate-model';
import type { InputOptions } from './image-batches';
import { PadimScorer, maxOf } from './padim-scorer';
import type { ProgressListener } from './progress';
import { scoreImagesInPasses } from './score-images';

/*
 * Fitting a model once its images are accumulated. The in-process trainer (trainModel), a fleet run of
 * one shard (fitted in its extract job) and the fleet's reducer follow the same recipe:
 * 1. the accumulator is finalised into the model's tensors: finalizeInParallel (the reducer's
 *    mergePartials finalises block by block as it merges);
 * 2. the manifest is made, with its thresholds set on the held-out images (else the training images
 *    read, or F1-optimal on a validation set): manifestWithThresholds;
 * 3. the tensors are stored and the manifest, with their entries (manifestWithTensors), written last:
 *    writeModelFolder for a folder, the fleet's publishVersion for a registry.
 */

/** What the manifest of a fitted model records of how it was made. */
export interface ManifestBaseInput {
  category: string;
  backbone: ResolvedBackbone;
  selection: EmbeddingSelection;
  size: number;
  crop: number | null;
  grid: { height: number; width: number };
  regularization: number;
  imageCount: number;
  heldOutCount: number;
  skipped: { file: string; error: string }[];
}

/** The manifest of a freshly fitted model, before its thresholds and tensors are known. */
export function modelManifestBase(m: ManifestBaseInput): Omit<ModelManifest, 'tensors'> {
  return {
    format: 'padim-model',
    formatVersion: 1,
    category: m.category,
    createdAt: new Date().toISOString(),
    backbone: { ...m.backbone.spec, onnxSha256: m.backbone.onnxSha256 },
    input: { size: m.size, crop: m.crop },
    grid: m.grid,
    featureCount: featureCount(m.backbone.spec),
    embedding: m.selection,
    regularization: m.regularization,
    training: { imageCount: m.imageCount, heldOutCount: m.heldOutCount, skipped: m.skipped, seconds: 0 },
    thresholds: { image: 0, pixel: 0, min: 0, max: 0, rule: 'unset', sampleCount: 0 },
  };
}

/** How a fitted model's thresholds are set: the backbone and runtime that score, and the rule or validation set. */
export interface ThresholdOptions extends Pick<InputOptions, 'batchSize' | 'pixelLimit' | 'read'> {
  backbone: ResolvedBackbone;
  runtime?: RuntimeOptions;
  /** Labelled images (normal and defective, masks optional): thresholds become F1-optimal on them. */
  validation?: LabelledImage[];
  /** How the held-out (or training) images set the threshold without a validation set. @defaultValue mean + 3·std */
  thresholdRule?: ThresholdRule;
  onProgress?: ProgressListener;
}

/** Images decoded and run through the backbone and embedding head, in batches; unreadable ones listed apart. */
export interface EmbeddedImages {
  batches: { data: Float32Array; n: number; files: string[] }[];
  failures: { file: string; error: string }[];
}

/**
 * The manifest of a fitted model (`tensors` are its finalised statistics) with its thresholds set:
 * F1-optimal on `opts.validation` when given, else by `opts.thresholdRule` on the scores of `normals`.
 */
export async function manifestWithThresholds(
  model: ManifestBaseInput,
  tensors: ModelTensors,
  opts: ThresholdOptions,
  normals: string[] | EmbeddedImages,
  extractor?: EmbeddingExtractor,
): Promise<Omit<ModelManifest, 'tensors'>> {
  const manifest = modelManifestBase(model);
  manifest.thresholds = await computeThresholds(manifest, tensors, opts, normals, extractor);
  return manifest;
}

/**
 * Thresholds for a fitted model: F1-optimal on `opts.validation` when given, else `opts.thresholdRule`
 * (default mean + 3·std) on the scores of `normals` (held-out images when the manifest records any, else
 * the training images), given as files or as their embeddings.
 *
 * The distances come from `tensors` where they are, a block of positions at a time (the scorer's
 * 'blocked' distances), for many images per pass: a training that wrote its factors over its co-moments
 * then peaks at about its accumulator, not it and a copy of the factors (2.5 GB for resnet50 d=550).
 */
async function computeThresholds(
  manifest: Omit<ModelManifest, 'tensors'>,
  tensors: ModelTensors,
  opts: ThresholdOptions,
  normals: string[] | EmbeddedImages,
  extractor?: EmbeddingExtractor,
): Promise<ModelThresholds> {
  const scorer = await PadimScorer.create({ ...manifest, tensors: undefined as never }, tensors, opts.backbone, opts.runtime, {
    extractor,
    distances: 'blocked',
  });
  const source = manifest.training.heldOutCount > 0 ? 'holdout' : 'training';
  try {
    if (!Array.isArray(normals) && !opts.validation) {
      const scores: number[] = [];
      const S = scorer.side * scorer.side;
      // Already held: all of them in one pass over the factors.
      const distances = await scorer.distancesOfBatches(normals.batches);
      for (let b = 0; b < normals.batches.length; b++) {
        const n = normals.batches[b].n;
        const maps = await scorer.anomalyMaps(distances[b], n);
        for (let i = 0; i < n; i++) scores.push(maxOf(maps.subarray(i * S, (i + 1) * S)).value);
      }
      return thresholdsFromNormalScores(scores, source, opts.thresholdRule);
    }
    if (opts.validation) {
      const scored = await scoreImagesInPasses(scorer, opts.validation, {
        ...opts,
        read: undefined,
        collectMaps: true,
        onProgress: opts.onProgress,
        stage: 'validate',
      });
      const ok = scored.filter((r) => r.error === undefined);
      // Masks that mark no anomalous pixel (or none at all) leave the pixel threshold to the image's.
      const withMasks = ok.filter((r) => r.mask !== undefined && r.mask.some((v) => v !== 0));
      const pixels =
        withMasks.length > 0
          ? flattenPixels(
              withMasks.map((r) => r.map!),
              withMasks.map((r) => r.mask!),
            )
          : undefined;
      return thresholdsFromValidation(
        ok.map((r) => r.score!),
        ok.map((r) => r.item.label),
        pixels,
      );
    }
    const files = Array.isArray(normals) ? normals : normals.batches.flatMap((b) => b.files);
    const scored = await scoreImagesInPasses(
      scorer,
      files.map((file) => ({ file })),
      { ...opts, onProgress: opts.onProgress, stage: 'threshold' },
    );
    const scores = scored.filter((r) => r.error === undefined).map((r) => r.score!);
    return thresholdsFromNormalScores(scores, source, opts.thresholdRule);
  } finally {
    await scorer.release();
  }
}
