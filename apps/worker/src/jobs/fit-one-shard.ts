import { UnrecoverableError } from 'bullmq';
import { ExtractFeaturesResult, FitGaussianJob, FitGaussianResult, FittedArtifact, FittedShard, TrainingPlan } from '@padim-fleet/contracts';
import { MERGED_ACCUMULATOR_FILE, accumulatorStream } from '@padim-fleet/fleet';
import { AccumulateResult, EmbeddingExtractor, INV_CHOLESKY_FILE, ImageReader, MEAN_FILE, computeThresholds, finalizeInParallel, modelManifestBase } from '@padim-fleet/inference';
import { ModelManifest, ModelThresholds, parseModelManifest } from '@padim-fleet/padim-core';
import { putHashed, runPrefix } from '@padim-fleet/storage';
import { JobContext, runtimeOf, throwIfStopped } from './job-context';

export const REGULARIZATION = 0.01;
/**
 * Co-moments above this size are finalised in place after their upload rather than beside it: the
 * extract job's peak is then the accumulator, not it and the factors (2.5 GB less for resnet50 d=550),
 * at the cost of the upload's overlap, which is seconds against the minutes such a finalisation takes.
 */
const FINALIZE_IN_PLACE_BYTES = 1024 ** 3;

/**
 * A run of one shard, with no base version to merge and no validation set to evaluate, is fitted by
 * its extract job: the statistics are already in that worker's memory, so writing them to the store
 * as a partial and reading them back in the reducer would only add time (a third of a screw run's).
 */
export function fitsInExtractJob(plan: TrainingPlan, shardCount: number): boolean {
  return shardCount === 1 && !plan.request.baseVersion && !plan.request.validation;
}

/**
 * Finalises the only shard's statistics, sets the thresholds on the held-out images (or the training
 * images) with the shard's warm extractor while the tensors and statistics upload under the run's
 * prefix, and returns what the reducer needs to publish them. Safe to retry: the keys are fixed.
 */
export async function fitOnlyShard(
  ctx: JobContext,
  plan: TrainingPlan,
  extracted: AccumulateResult,
  extractor: EmbeddingExtractor,
  read: ImageReader | undefined,
): Promise<FittedShard> {
  const acc = extracted.accumulator;
  if (acc.count < 2) {
    const why = extracted.skipped.slice(0, 5).map((s) => `; ${s.file}: ${s.error}`).join('');
    throw new UnrecoverableError(`run ${plan.runId}: training needs at least 2 usable images, the shards hold ${acc.count}${why}`);
  }
  const started = Date.now();
  const prefix = `${runPrefix(plan.runId)}fitted/`;
  // The statistics are final: they upload while the factors are computed and the thresholds set. A large
  // accumulator is uploaded first and then finalised in place, so the factors never sit beside it.
  const inPlace = acc.comoment.byteLength >= FINALIZE_IN_PLACE_BYTES;
  const accumulatorUpload = putHashed(ctx.store, prefix + MERGED_ACCUMULATOR_FILE, accumulatorStream(acc).stream);
  accumulatorUpload.catch(() => undefined); // awaited below; a failure meanwhile must not go unhandled
  if (inPlace) await accumulatorUpload;
  const { mean, invCholesky } = await finalizeInParallel(acc, { regularization: REGULARIZATION, threads: ctx.config.PADIM_THREADS, inPlace });
  const finalizedAt = Date.now();
  const uploads = Promise.all([
    accumulatorUpload,
    putHashed(ctx.store, prefix + MEAN_FILE, new Uint8Array(mean.buffer, mean.byteOffset, mean.byteLength)),
    putHashed(ctx.store, prefix + INV_CHOLESKY_FILE, new Uint8Array(invCholesky.buffer, invCholesky.byteOffset, invCholesky.byteLength)),
  ]);
  uploads.catch(() => undefined);

  const base = manifestBaseOf(plan, extractor, acc.count, extracted.skipped);
  const runtime = runtimeOf(ctx.config);
  const thresholds = await computeThresholds(base, { mean, invCholesky }, { backbone: extractor.backbone, runtime, read, thresholdRule: plan.request.thresholdRule }, thresholdImages(plan, extracted.skipped), extractor);
  const thresholdsAt = Date.now();
  const [accumulator, meanArtifact, factorArtifact] = await uploads;
  return {
    imageCount: acc.count,
    thresholds: { ...thresholds },
    accumulator,
    mean: meanArtifact,
    invCholesky: factorArtifact,
    stages: { finalizeSeconds: (finalizedAt - started) / 1000, thresholdsSeconds: (thresholdsAt - finalizedAt) / 1000, uploadWaitSeconds: (Date.now() - thresholdsAt) / 1000 },
  };
}

/** The normal images that set a run's thresholds: its held-out images, else the training images that were read. */
export function thresholdImages(plan: TrainingPlan, skipped: { file: string }[]): string[] {
  if (plan.heldOut.length > 0) return plan.heldOut;
  const unread = new Set(skipped.map((s) => s.file));
  return plan.shards.flat().filter((f) => !unread.has(f));
}

/** The patch grid of a run's model: the input side over the backbone's first stride. */
export function gridOf(plan: TrainingPlan, backbone: EmbeddingExtractor['backbone']): { height: number; width: number } {
  const cells = Math.ceil((plan.request.crop ?? plan.request.size) / backbone.spec.strides[0]);
  return { height: cells, width: cells };
}

/** The manifest of a version before its thresholds and tensors, for a run's model. */
export function manifestBaseOf(plan: TrainingPlan, model: Pick<EmbeddingExtractor, 'backbone' | 'selection'>, imageCount: number, skipped: { file: string; error: string }[]) {
  return modelManifestBase({
    category: plan.request.category,
    backbone: model.backbone,
    selection: model.selection,
    size: plan.request.size,
    crop: plan.request.crop ?? null,
    grid: gridOf(plan, model.backbone),
    regularization: REGULARIZATION,
    imageCount,
    heldOutCount: plan.heldOut.length,
    skipped,
  });
}

/** The full manifest of a version: its base, the written tensors and statistics, and its lineage. */
export function versionManifest(
  base: Omit<ModelManifest, 'tensors'>,
  artifacts: { accumulator: FittedArtifact; mean: FittedArtifact; invCholesky: FittedArtifact },
  lineage: { runId: string; baseVersion: string | null },
): ModelManifest {
  const positions = base.grid.height * base.grid.width;
  const d = base.embedding.d;
  const manifest: ModelManifest = {
    ...base,
    tensors: {
      mean: { file: MEAN_FILE, dtype: 'float32', shape: [positions, d], bytes: artifacts.mean.bytes, sha256: artifacts.mean.sha256 },
      invCholesky: { file: INV_CHOLESKY_FILE, dtype: 'float32', shape: [positions, (d * (d + 1)) / 2], bytes: artifacts.invCholesky.bytes, sha256: artifacts.invCholesky.sha256 },
    },
    accumulator: { file: MERGED_ACCUMULATOR_FILE, bytes: artifacts.accumulator.bytes, sha256: artifacts.accumulator.sha256 },
    lineage,
  };
  parseModelManifest(JSON.parse(JSON.stringify(manifest))); // never publish what could not be read back
  return manifest;
}

/**
 * The reducer's part of a run whose only shard fitted the model: the files are copied into the version
 * within the store (no bytes through this process), then the manifest is written.
 */
export async function publishFittedShard(
  ctx: JobContext,
  data: FitGaussianJob,
  plan: TrainingPlan,
  child: ExtractFeaturesResult & { fitted: FittedShard },
  finish: (manifest: ModelManifest) => Promise<FitGaussianResult>,
): Promise<FitGaussianResult> {
  const started = Date.now();
  const { category, version } = data;
  const fitted = child.fitted;
  const [accumulator, mean, invCholesky] = await Promise.all([
    ctx.registry.copyArtifact(category, version, MERGED_ACCUMULATOR_FILE, fitted.accumulator),
    ctx.registry.copyArtifact(category, version, MEAN_FILE, fitted.mean),
    ctx.registry.copyArtifact(category, version, INV_CHOLESKY_FILE, fitted.invCholesky),
  ]);
  const copiedAt = Date.now();
  const base = manifestBaseOf(plan, await ctx.extractors.selection(plan.request), fitted.imageCount, child.skipped);
  base.thresholds = fitted.thresholds as unknown as ModelThresholds;
  base.training.seconds = (Date.now() - Date.parse(data.createdAt)) / 1000;
  const manifest = versionManifest(base, { accumulator, mean, invCholesky }, { runId: data.runId, baseVersion: null });
  await throwIfStopped(ctx, data.runId); // a run cancelled by now is not published; its files are removed with it
  await ctx.registry.writeManifest(category, version, manifest);
  const result = await finish(manifest);
  result.stages = {
    fitInExtractSeconds: fitted.stages.finalizeSeconds + fitted.stages.thresholdsSeconds + fitted.stages.uploadWaitSeconds,
    ...fitted.stages,
    copySeconds: (copiedAt - started) / 1000,
    publishSeconds: (Date.now() - copiedAt) / 1000,
  };
  return result;
}
