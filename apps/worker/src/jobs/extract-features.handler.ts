import { Job, UnrecoverableError } from 'bullmq';
import { ExtractFeaturesResult, ExtractProgress, FittedShard, TrainingPlan, extractFeaturesJob, s3Connection } from '@padim-fleet/contracts';
import { accumulatorStream } from '@padim-fleet/compute';
import { openImageSource } from '@padim-fleet/fleet';
import { AccumulateResult, EmbeddingExtractor, ImageReader, accumulateImages, finalizeInParallel, manifestWithThresholds } from '@padim-fleet/inference';
import { ACCUMULATOR_FILE, COVARIANCE_REGULARIZATION, INV_CHOLESKY_FILE, MEAN_FILE } from '@padim-fleet/padim-core';
import { putHashed, runFittedPrefix, runPartialKey } from '@padim-fleet/storage';
import type { ExtractorLease } from '../repositories/feature-extractor.repository';
import { refuseUnlessMemoryFits } from './memory-budget';
import { JobContext, RunStoppedError, bindJobFields, parseJobData, runStopReason, runtimeOf, throwIfStopped } from './job-context';
import { fitInputOf, fitsInExtractJob, loadPlan, thresholdImages } from './training-plan';

/** Progress goes to Redis at most this often. */
const PROGRESS_INTERVAL_MS = 500;
const CANCEL_POLL_MS = 1000;
/**
 * Co-moments above this size are finalised in place after their upload rather than beside it: the
 * extract job's peak is then the accumulator, not it and the factors (2.5 GB less for resnet50 d=550),
 * at the cost of the upload's overlap, which is seconds against the minutes such a finalisation takes.
 */
const FINALIZE_IN_PLACE_BYTES = 1024 ** 3;

/**
 * One shard: decode its images, run the backbone, accumulate, and write the partial accumulator under
 * a key fixed by (run, shard), so a retry overwrites it. Returns only the key. The only shard of a run
 * with nothing to merge fits the model itself instead (fitOnlyShard).
 */
export async function extractFeaturesHandler(job: Job, ctx: JobContext): Promise<ExtractFeaturesResult> {
  const started = Date.now();
  const data = parseJobData(extractFeaturesJob, job);
  await throwIfStopped(ctx, data.runId);
  const plan = await loadPlan(ctx, data.runId);
  bindJobFields(ctx.log, { category: plan.request.category, version: plan.version });
  const files = plan.shards[data.shard];
  if (!files) throw new UnrecoverableError(`run ${data.runId}: plan has ${plan.shards.length} shards, job asks for shard ${data.shard}`);
  // A run of one shard is fitted here: its thresholds are set in this job too.
  await refuseUnlessMemoryFits(
    ctx,
    plan,
    `run ${data.runId} shard ${data.shard} (extract-features)`,
    fitsInExtractJob(plan, data.shardCount) ? 'train' : 'extract',
  );

  let stopped: 'cancelled' | 'failed' | null = null;
  const poll = setInterval(() => {
    runStopReason(ctx, data.runId).then(
      (r) => (stopped ??= r),
      () => undefined,
    );
  }, CANCEL_POLL_MS);
  let lastReport = 0;
  let imagesDone = 0;
  const source = openImageSource(plan.source, s3Connection(ctx.config), ctx.store, ctx.config.IMAGE_MAX_BYTES);
  let lease: ExtractorLease | null = null;
  try {
    lease = await ctx.extractors.acquire(plan.request);
    const result = await accumulateImages(files, lease.extractor, {
      size: plan.request.size,
      crop: plan.request.crop ?? null,
      read: source.read,
      comoments: ctx.config.PADIM_ACCUMULATE,
      groupImages: ctx.config.PADIM_ACCUMULATE_GROUP,
      onProgress: (e) => {
        if (stopped) throw new RunStoppedError(data.runId, stopped);
        // Counted as they go, so that rate() shows images/s during a long shard rather than at its end.
        ctx.metrics.imagesExtracted.inc(e.done - imagesDone);
        imagesDone = e.done;
        const now = Date.now();
        if (now - lastReport >= PROGRESS_INTERVAL_MS || e.done === e.total) {
          lastReport = now;
          const progress: ExtractProgress = { imagesDone: e.done, imagesTotal: files.length };
          void job.updateProgress(progress as unknown as object).catch(() => undefined);
        }
      },
    });
    logSkipped(ctx, result.skipped);
    ctx.log.debug(
      { images: result.accumulator.count, skipped: result.skipped.length, ms: Date.now() - started },
      `shard ${data.shard}: ${result.accumulator.count} images accumulated`,
    );
    if (fitsInExtractJob(plan, data.shardCount)) {
      const fitted = await fitOnlyShard(ctx, plan, result, lease.extractor, source.read);
      await throwIfStopped(ctx, data.runId); // the fitted files are under the run's prefix, removed with it
      return { partialKey: fitted.accumulator.key, imageCount: fitted.imageCount, skipped: result.skipped, seconds: (Date.now() - started) / 1000, fitted };
    }
    await lease.release();
    const partialKey = runPartialKey(data.runId, data.shard);
    const uploadStarted = Date.now();
    const { stream } = accumulatorStream(result.accumulator);
    await ctx.store.put(partialKey, stream);
    const uploadSeconds = (Date.now() - uploadStarted) / 1000;
    const reason = await runStopReason(ctx, data.runId);
    if (reason) {
      await ctx.store.delete(partialKey);
      throw new RunStoppedError(data.runId, reason);
    }
    return { partialKey, imageCount: result.accumulator.count, skipped: result.skipped, seconds: (Date.now() - started) / 1000, uploadSeconds };
  } finally {
    clearInterval(poll);
    await lease?.release();
    await source.close();
  }
}

/** Images that could not be read or decoded are left out of the fit: one warning names how many and the first few. */
function logSkipped(ctx: JobContext, skipped: { file: string; error: string }[]): void {
  if (skipped.length === 0) return;
  const first = skipped.slice(0, 5);
  ctx.log.warn({ skipped: skipped.length, first }, `${skipped.length} images skipped: ${first.map((s) => `${s.file}: ${s.error}`).join('; ')}`);
}

/**
 * Finalises the only shard's statistics, sets the thresholds on the held-out images (or the training
 * images) with the shard's warm extractor while the tensors and statistics upload under the run's
 * prefix, and returns what the reducer needs to publish them. Safe to retry: the keys are fixed.
 */
async function fitOnlyShard(
  ctx: JobContext,
  plan: TrainingPlan,
  extracted: AccumulateResult,
  extractor: EmbeddingExtractor,
  read: ImageReader | undefined,
): Promise<FittedShard> {
  const acc = extracted.accumulator;
  if (acc.count < 2) {
    const why = extracted.skipped
      .slice(0, 5)
      .map((s) => `; ${s.file}: ${s.error}`)
      .join('');
    throw new UnrecoverableError(`run ${plan.runId}: training needs at least 2 usable images, the shards hold ${acc.count}${why}`);
  }
  const started = Date.now();
  const prefix = runFittedPrefix(plan.runId);
  // The statistics are final: they upload while the factors are computed and the thresholds set. A large
  // accumulator is uploaded first and then finalised in place, so the factors never sit beside it.
  const inPlace = acc.comoment.byteLength >= FINALIZE_IN_PLACE_BYTES;
  const accumulatorUpload = putHashed(ctx.store, prefix + ACCUMULATOR_FILE, accumulatorStream(acc).stream);
  accumulatorUpload.catch(() => undefined); // awaited below; a failure meanwhile must not go unhandled
  if (inPlace) await accumulatorUpload;
  const { mean, invCholesky } = await finalizeInParallel(acc, { regularization: COVARIANCE_REGULARIZATION, threads: ctx.config.PADIM_THREADS, inPlace });
  const finalizedAt = Date.now();
  const uploads = Promise.all([
    accumulatorUpload,
    putHashed(ctx.store, prefix + MEAN_FILE, new Uint8Array(mean.buffer, mean.byteOffset, mean.byteLength)),
    putHashed(ctx.store, prefix + INV_CHOLESKY_FILE, new Uint8Array(invCholesky.buffer, invCholesky.byteOffset, invCholesky.byteLength)),
  ]);
  uploads.catch(() => undefined);

  const { thresholds } = await manifestWithThresholds(
    fitInputOf(plan, extractor, acc.count, extracted.skipped),
    { mean, invCholesky },
    { backbone: extractor.backbone, runtime: runtimeOf(ctx.config), read, thresholdRule: plan.request.thresholdRule },
    thresholdImages(plan, extracted.skipped),
    extractor,
  );
  const thresholdsAt = Date.now();
  const [accumulator, meanArtifact, factorArtifact] = await uploads;
  return {
    imageCount: acc.count,
    thresholds: { ...thresholds },
    accumulator,
    mean: meanArtifact,
    invCholesky: factorArtifact,
    stages: {
      finalizeSeconds: (finalizedAt - started) / 1000,
      thresholdsSeconds: (thresholdsAt - finalizedAt) / 1000,
      uploadWaitSeconds: (Date.now() - thresholdsAt) / 1000,
    },
  };
}
