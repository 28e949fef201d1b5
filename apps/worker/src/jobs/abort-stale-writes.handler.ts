import { Job } from 'bullmq';
import { abortStaleWritesJob } from '@padim-fleet/contracts';
import { JobContext, parseJobData } from './job-context';

/** Aborts the store's unfinished writes older than STALE_WRITE_HOURS (see abortStaleWritesJob). */
export async function abortStaleWritesHandler(job: Job, ctx: JobContext): Promise<{ aborted: number }> {
  parseJobData(abortStaleWritesJob, job);
  const aborted = await ctx.store.abortStaleWrites(ctx.config.STALE_WRITE_HOURS * 3600_000);
  if (aborted > 0) ctx.log.info({ aborted }, `${aborted} stale unfinished writes aborted`);
  return { aborted };
}
