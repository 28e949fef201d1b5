import { Job } from 'bullmq';
import { ScoringStatus, assembleScoringJob } from '@padim-fleet/contracts';
import { ScoreRow, writeScoringResults } from '@padim-fleet/compute';
import { scoringChunkKey, scoringChunksPrefix, scoringInputPrefix, scoringPlanKey, scoringPrefix, scoringUploadPrefix } from '@padim-fleet/storage';
import { JobContext, parseJobData } from './job-context';

/** Joins the chunks' rows in input order into results.csv / results.jsonl / summary.json, then removes the scratch objects. */
export async function assembleScoringHandler(job: Job, ctx: JobContext): Promise<NonNullable<ScoringStatus['summary']>> {
  const data = parseJobData(assembleScoringJob, job);
  const prefix = scoringPrefix(data.scoringId);
  const rows: ScoreRow[] = [];
  for (let chunk = 0; chunk < data.chunkCount; chunk++) {
    const text = (await ctx.store.get(scoringChunkKey(data.scoringId, chunk))).toString('utf8');
    for (const line of text.split('\n')) if (line.trim() !== '') rows.push(JSON.parse(line) as ScoreRow);
  }
  const threshold = rows.find((r) => Number.isFinite(r.threshold))?.threshold ?? NaN;
  const { summary } = await writeScoringResults(ctx.store, prefix, rows, { category: data.category, version: data.version, threshold });
  await ctx.store.deletePrefix(scoringChunksPrefix(data.scoringId));
  await ctx.store.deletePrefix(scoringInputPrefix(data.scoringId));
  await ctx.store.deletePrefix(scoringUploadPrefix(data.scoringId));
  await ctx.store.delete(scoringPlanKey(data.scoringId));
  ctx.log.info(
    { images: summary.images, scored: summary.scored, failed: summary.failed, anomalous: summary.anomalous },
    `scoring assembled: ${summary.scored} of ${summary.images} images scored, ${summary.anomalous} anomalous, ${summary.failed} failed`,
  );
  return { images: summary.images, scored: summary.scored, failed: summary.failed, anomalous: summary.anomalous };
}
