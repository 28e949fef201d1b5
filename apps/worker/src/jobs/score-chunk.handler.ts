import { Job, UnrecoverableError } from 'bullmq';
import { scoreChunkJob } from '@padim-fleet/contracts';
import { scoreToStore } from '@padim-fleet/compute';
import { readScoringPlan, storeImageReader } from '@padim-fleet/fleet';
import { scoringChunkKey, scoringPrefix } from '@padim-fleet/storage';
import { JobContext, bindJobFields, parseJobData } from './job-context';
import { openInput } from './scoring-input';

/** Scores one chunk; its rows go to a key fixed by (scoring, chunk), so a retry replaces them. */
export async function scoreChunkHandler(job: Job, ctx: JobContext): Promise<{ rows: number }> {
  const data = parseJobData(scoreChunkJob, job);
  const plan = await readScoringPlan(ctx.store, data.scoringId);
  bindJobFields(ctx.log, { category: plan.category, version: plan.version });
  const items = plan.chunks[data.chunk];
  if (!items) throw new UnrecoverableError(`scoring ${data.scoringId}: no chunk ${data.chunk}`);
  const input = plan.source === 'store' ? { store: ctx.store, close: async () => undefined } : openInput(ctx, `${plan.source}/`);
  const lease = await ctx.scorers.acquire(plan.category, plan.version);
  try {
    await ctx.scoringRuns.recordChunkProgress(data.scoringId, data.chunk, 0);
    const rows = await scoreToStore(
      lease.value,
      items.map((i) => ({ file: i.file, ref: i.key })),
      {
        output: ctx.store,
        prefix: scoringPrefix(data.scoringId),
        read: storeImageReader(input.store, ctx.config.IMAGE_MAX_BYTES),
        onProgress: (e) => void ctx.scoringRuns.recordChunkProgress(data.scoringId, data.chunk, e.done).catch(() => undefined),
      },
    );
    ctx.metrics.imagesScored.inc({ kind: 'batch' }, rows.filter((row) => row.error === null).length);
    await ctx.store.put(scoringChunkKey(data.scoringId, data.chunk), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await ctx.scoringRuns.recordChunkProgress(data.scoringId, data.chunk, items.length);
    const failed = rows.filter((r) => r.error).length;
    ctx.log.debug({ rows: rows.length, failed }, `chunk ${data.chunk}: ${rows.length} images scored, ${failed} failed`);
    return { rows: rows.length };
  } catch (error) {
    await ctx.scoringRuns.recordChunkFailure(data.scoringId, data.chunk, (error as Error).message).catch(() => undefined);
    throw error;
  } finally {
    lease.done();
    await input.close();
  }
}
