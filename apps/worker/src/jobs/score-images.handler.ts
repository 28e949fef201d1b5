import { Job, UnrecoverableError } from 'bullmq';
import { OnlineScoreResponse, OnlineScoreResult, scoreImagesJob } from '@padim-fleet/contracts';
import { onlineOutputPrefix, scoreToStore, storeImageReader, uploadPrefix } from '@padim-fleet/fleet';
import { ModelNotFoundError } from '@padim-fleet/storage';
import { JobContext, parseJobData } from './job-context';

/**
 * Online scoring of a few uploaded images. Concurrent requests for the same model share the cached
 * scorer, whose backbone batches them together.
 */
export async function scoreImagesHandler(job: Job, ctx: JobContext): Promise<OnlineScoreResponse> {
  const data = parseJobData(scoreImagesJob, job);
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
    // The answer does not wait for the clean-up of the uploaded images.
    void ctx.store.deletePrefix(uploadPrefix(data.requestId)).catch(() => undefined);
  }
}
