import { Job, UnrecoverableError } from 'bullmq';
import { ExtractFeaturesResult, ExtractProgress, extractFeaturesJob, s3Connection } from '@padim-fleet/contracts';
import { accumulatorStream, openImageSource } from '@padim-fleet/fleet';
import { accumulateImages } from '@padim-fleet/inference';
import { runPartialKey } from '@padim-fleet/storage';
import type { ExtractorLease } from '../repositories/feature-extractor.repository';
import { fitOnlyShard, fitsInExtractJob } from './fit-one-shard';
import { refuseUnlessMemoryFits } from './memory-budget';
import { JobContext, RunStoppedError, parseJobData, runStopReason, throwIfStopped } from './job-context';
import { loadPlan } from './training-plan';

/** Progress goes to Redis at most this often. */
const PROGRESS_INTERVAL_MS = 500;
const CANCEL_POLL_MS = 1000;

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
  const files = plan.shards[data.shard];
  if (!files) throw new UnrecoverableError(`run ${data.runId}: plan has ${plan.shards.length} shards, job asks for shard ${data.shard}`);
  // A run of one shard is fitted here: its thresholds are set in this job too.
  await refuseUnlessMemoryFits(ctx, plan, `run ${data.runId} shard ${data.shard} (extract-features)`, fitsInExtractJob(plan, data.shardCount) ? 'train' : 'extract');

  let stopped: 'cancelled' | 'failed' | null = null;
  const poll = setInterval(() => {
    runStopReason(ctx, data.runId).then((r) => (stopped ??= r), () => undefined);
  }, CANCEL_POLL_MS);
  let lastReport = 0;
  const source = openImageSource(plan.source, s3Connection(ctx.config), ctx.store, ctx.config.IMAGE_MAX_BYTES);
  let lease: ExtractorLease | null = null;
  try {
    lease = await ctx.extractors.acquire(plan.request);
    const result = await accumulateImages(files, lease.extractor, {
      size: plan.request.size,
      crop: plan.request.crop ?? null,
      read: source.read,
      onProgress: (e) => {
        if (stopped) throw new RunStoppedError(data.runId, stopped);
        const now = Date.now();
        if (now - lastReport >= PROGRESS_INTERVAL_MS || e.done === e.total) {
          lastReport = now;
          const progress: ExtractProgress = { imagesDone: e.done, imagesTotal: files.length };
          void job.updateProgress(progress as unknown as object).catch(() => undefined);
        }
      },
    });
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
