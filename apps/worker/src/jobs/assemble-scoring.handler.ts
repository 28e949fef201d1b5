import { Job } from 'bullmq';
import { ScoringStatus, assembleScoringJob, scoringSummary } from '@padim-fleet/contracts';
import { ScoreRow, writeScoringResults } from '@padim-fleet/compute';
import {
  BlobStore,
  SCORING_OUTPUTS,
  scoringChunkKey,
  scoringChunksPrefix,
  scoringInputPrefix,
  scoringPlanKey,
  scoringPrefix,
  scoringUploadPrefix,
} from '@padim-fleet/storage';
import { JobContext, parseJobData } from './job-context';

type AssembledCounts = NonNullable<ScoringStatus['summary']>;

const assembledCounts = scoringSummary.pick({ images: true, scored: true, failed: true, anomalous: true });

/**
 * Joins the chunks' rows in input order into results.csv / results.jsonl / summary.json, then removes
 * the scratch objects. Safe to retry: summary.json is written last, so an attempt that finds it (one
 * before it died, or lost the store, during the clean-up, with the chunks perhaps already gone) only
 * finishes the clean-up.
 */
export async function assembleScoringHandler(job: Job, ctx: JobContext): Promise<AssembledCounts> {
  const data = parseJobData(assembleScoringJob, job);
  const prefix = scoringPrefix(data.scoringId);
  let counts = await readAssembledCounts(ctx.store, prefix);
  if (counts) {
    ctx.log.info('scoring already assembled by an earlier attempt: removing what its clean-up left');
  } else {
    const rows: ScoreRow[] = [];
    for (let chunk = 0; chunk < data.chunkCount; chunk++) {
      const text = (await ctx.store.get(scoringChunkKey(data.scoringId, chunk))).toString('utf8');
      for (const line of text.split('\n')) if (line.trim() !== '') rows.push(JSON.parse(line) as ScoreRow);
    }
    const threshold = rows.find((r) => Number.isFinite(r.threshold))?.threshold ?? NaN;
    const { summary } = await writeScoringResults(ctx.store, prefix, rows, { category: data.category, version: data.version, threshold });
    counts = { images: summary.images, scored: summary.scored, failed: summary.failed, anomalous: summary.anomalous };
  }
  await ctx.store.deletePrefix(scoringChunksPrefix(data.scoringId));
  await ctx.store.deletePrefix(scoringInputPrefix(data.scoringId));
  await ctx.store.deletePrefix(scoringUploadPrefix(data.scoringId));
  await ctx.store.delete(scoringPlanKey(data.scoringId));
  ctx.log.info(counts, `scoring assembled: ${counts.scored} of ${counts.images} images scored, ${counts.anomalous} anomalous, ${counts.failed} failed`);
  return counts;
}

/** The counts of a summary.json already under `prefix`, or null where none is (or it is not one). */
async function readAssembledCounts(store: BlobStore, prefix: string): Promise<AssembledCounts | null> {
  const key = prefix + SCORING_OUTPUTS.summary;
  if (!(await store.head(key))) return null;
  try {
    const parsed = assembledCounts.safeParse(JSON.parse((await store.get(key)).toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  }
}
