import { Job, UnrecoverableError } from 'bullmq';
import { OnlineScoreResponse, OnlineScoreResult, ScoreImagesJob, scoreImagesJob } from '@padim-fleet/contracts';
import { scoreToStore } from '@padim-fleet/compute';
import { storeImageReader } from '@padim-fleet/fleet';
import { BlobStore, ModelNotFoundError, StoreUnavailableError, onlineOutputPrefix, storeUnavailableForWaiter } from '@padim-fleet/storage';
import { JobContext, bindJobFields, parseJobData } from './job-context';

/**
 * Whether the API still waits for this request's answer: it removes the request's images once it stops
 * waiting (time-out or failure, see removeOnlineRequest), and only a finished job removes them otherwise.
 */
async function requestWaiting(store: BlobStore, data: ScoreImagesJob): Promise<boolean> {
  return (await store.head(data.images[0].key)) !== null;
}

/**
 * Online scoring of a few uploaded images. Concurrent requests for the same model share the cached
 * scorer, whose backbone batches them together. Returns null, having written nothing that stays, for a
 * request the API no longer waits for.
 */
export async function scoreImagesHandler(job: Job, ctx: JobContext): Promise<OnlineScoreResponse | null> {
  try {
    return await scoreRequest(job, ctx);
  } catch (error) {
    // The API waits on this job and reads only its failure reason: marked, a store outage is a 503 there.
    throw error instanceof StoreUnavailableError ? storeUnavailableForWaiter(error) : error;
  }
}

async function scoreRequest(job: Job, ctx: JobContext): Promise<OnlineScoreResponse | null> {
  const data = parseJobData(scoreImagesJob, job);
  if (!(await requestWaiting(ctx.store, data))) {
    ctx.log.debug('the API no longer waits for this request: nothing scored');
    return null;
  }
  const lease = await ctx.scorers.acquire(data.category, data.version).catch((error: Error) => {
    throw error instanceof ModelNotFoundError ? new UnrecoverableError(error.message) : error;
  });
  bindJobFields(ctx.log, { version: lease.version });
  const prefix = onlineOutputPrefix(data.requestId);
  const results: OnlineScoreResult[] = [];
  try {
    const rows = await scoreToStore(
      lease.value,
      data.images.map((i) => ({ file: i.name, ref: i.key })),
      { output: ctx.store, prefix, read: storeImageReader(ctx.store) },
    );
    ctx.metrics.imagesScored.inc({ kind: 'online' }, rows.filter((row) => row.error === null).length);
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
  } finally {
    lease.done();
  }
  if (data.inline) {
    await ctx.store.deletePrefix(prefix);
  } else if (!(await requestWaiting(ctx.store, data))) {
    // The API gave up while this ran: nobody will ask for these PNGs.
    await ctx.store.deletePrefix(prefix);
    return null;
  }
  // The images stay: a failed attempt leaves them to its retry, and the API removes them once it has its answer.
  return { category: data.category, version: lease.version, results };
}
