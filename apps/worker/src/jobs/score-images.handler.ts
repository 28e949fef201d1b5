import { Job, UnrecoverableError } from 'bullmq';
import { OnlineScoreResponse, OnlineScoreResult, ScoreImagesJob, scoreImagesJob } from '@padim-fleet/contracts';
import { onlineOutputPrefix, scoreToStore, storeImageReader, uploadPrefix } from '@padim-fleet/fleet';
import { BlobStore, ModelNotFoundError } from '@padim-fleet/storage';
import { JobContext, parseJobData } from './job-context';

/**
 * Online scoring of a few uploaded images. Concurrent requests for the same model share the cached
 * scorer, whose backbone batches them together. The uploaded images are removed once the request is
 * answered or has no attempt left (a retry reads them again); the answer does not wait for that.
 */
export async function scoreImagesHandler(job: Job, ctx: JobContext): Promise<OnlineScoreResponse> {
  const data = parseJobData(scoreImagesJob, job);
  let keepUploads = job.attemptsMade + 1 < (job.opts.attempts ?? 1);
  try {
    const response = await scoreUploads(data, ctx);
    keepUploads = false;
    return response;
  } catch (error) {
    if (error instanceof UnrecoverableError) keepUploads = false;
    throw error;
  } finally {
    if (!keepUploads) void removeUploads(ctx.store, data.requestId);
  }
}

async function scoreUploads(data: ScoreImagesJob, ctx: JobContext): Promise<OnlineScoreResponse> {
  const lease = await ctx.scorers.acquire(data.category, data.version).catch((error: Error) => {
    throw error instanceof ModelNotFoundError ? new UnrecoverableError(error.message) : error;
  });
  const prefix = onlineOutputPrefix(data.requestId);
  try {
    const rows = await scoreToStore(
      lease.value,
      data.images.map((i) => ({ file: i.name, ref: i.key })),
      { output: ctx.store, prefix, read: storeImageReader(ctx.store) },
    );
    const results: OnlineScoreResult[] = [];
    for (const row of rows) {
      const result: OnlineScoreResult = {
        ...row,
        heatmap: row.heatmap && !data.inline ? `/v1/scores/${data.requestId}/${row.heatmap}` : null,
        mask: row.mask && !data.inline ? `/v1/scores/${data.requestId}/${row.mask}` : null,
      };
      if (data.inline && row.heatmap && row.mask) {
        result.heatmapPng = (await ctx.store.get(prefix + row.heatmap)).toString('base64');
        result.maskPng = (await ctx.store.get(prefix + row.mask)).toString('base64');
      }
      results.push(result);
    }
    if (data.inline) await ctx.store.deletePrefix(prefix);
    return { category: data.category, version: lease.version, results };
  } finally {
    lease.done();
  }
}

/** Waits between attempts to remove a request's uploaded images, so a store out for a minute does not leave them. */
const UPLOAD_REMOVAL_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 32000];

async function removeUploads(store: BlobStore, requestId: string): Promise<void> {
  for (const delay of [...UPLOAD_REMOVAL_DELAYS_MS, null]) {
    try {
      await store.deletePrefix(uploadPrefix(requestId));
      return;
    } catch {
      // The store is unreachable for now; past the last attempt, the sweep of old uploads takes them.
      if (delay === null) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
