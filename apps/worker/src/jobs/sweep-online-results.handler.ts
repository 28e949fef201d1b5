import { Job } from 'bullmq';
import { sweepOnlineResults } from '@padim-fleet/compute';
import { JobContext } from './job-context';

/** Scheduled: removes online results older than ONLINE_RESULTS_TTL_HOURS. */
export async function sweepOnlineResultsHandler(_job: Job, ctx: JobContext): Promise<{ removed: number }> {
  const removed = await sweepOnlineResults(ctx.store, ctx.config.ONLINE_RESULTS_TTL_HOURS * 3600_000);
  if (removed.length > 0) ctx.log.info({ removed: removed.length }, `${removed.length} expired online results removed`);
  return { removed: removed.length };
}
