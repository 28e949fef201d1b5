import { Job, UnrecoverableError } from 'bullmq';
import { ArchiveRejectedError } from '@padim-fleet/archives';
import {
  ScoringPlan,
  ScoringStatus,
  assembleScoringJob,
  prepareScoringJob,
  s3Connection,
  scoreChunkJob,
} from '@padim-fleet/contracts';
import { ScoreRow, archiveLimitsOf, scoreToStore, sweepOnlineResults, unpackArchive, writeScoringResults } from '@padim-fleet/compute';
import {
  TooManyInputsError,
  listScoringInputs,
  readScoringPlan,
  resolveModelVersion,
  splitContiguous,
  storeImageReader,
} from '@padim-fleet/fleet';
import {
  BlobStore,
  ModelNotFoundError,
  S3BlobStore,
  scoringChunkKey,
  scoringChunksPrefix,
  scoringInputPrefix,
  scoringPlanKey,
  scoringPrefix,
  scoringUploadPrefix,
} from '@padim-fleet/storage';
import { JobContext, parseJobData } from './job-context';

/** Where a scoring's input lives: the fleet's own store (`store:<key>`, uploads) or another bucket. */
function openInput(ctx: JobContext, input: string): { store: BlobStore; key: string; source: string; close: () => Promise<void> } {
  if (input.startsWith('store:')) return { store: ctx.store, key: input.slice('store:'.length), source: 'store', close: async () => undefined };
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(input);
  if (!match) throw new UnrecoverableError(`input ${input}: must be s3://bucket/key or s3://bucket/prefix/`);
  const store = new S3BlobStore({ ...s3Connection(ctx.config), bucket: match[1] });
  return { store, key: match[2], source: `s3://${match[1]}`, close: async () => store.close?.() };
}

/**
 * Checks the model and the input, unpacks an archive into the scoring's own prefix (after inspecting
 * it whole: hostile archives are rejected before anything is written), writes the plan of chunks and
 * queues the flow. Safe to retry: keys are fixed and the flow's job ids too.
 */
export async function prepareScoringHandler(job: Job, ctx: JobContext): Promise<{ version: string; images: number; chunks: number }> {
  const data = parseJobData(prepareScoringJob, job);
  let version: string;
  try {
    version = await resolveModelVersion(ctx.registry, data.category, data.version);
    // Loads and checks every tensor's SHA-256 now, so a corrupt model fails the scoring before any chunk runs.
    (await ctx.scorers.acquire(data.category, version)).done();
  } catch (error) {
    if (error instanceof ModelNotFoundError || (error as Error).name === 'ModelIntegrityError') throw new UnrecoverableError((error as Error).message);
    throw error;
  }
  const input = openInput(ctx, data.input);
  let items: { file: string; key: string }[] = [];
  let source = input.source;
  try {
    if (input.key === '' || input.key.endsWith('/')) {
      try {
        items = await listScoringInputs(input.store, input.key, data.input, ctx.config.SCORING_MAX_INPUTS);
      } catch (error) {
        if (error instanceof TooManyInputsError) throw new UnrecoverableError(error.message);
        throw error;
      }
    } else {
      items = await unpackScoringArchive(ctx, input.store, input.key, data.scoringId);
      source = 'store';
    }
  } finally {
    await input.close();
  }
  if (items.length === 0) throw new UnrecoverableError(`input ${data.input}: no files to score`);
  const plan: ScoringPlan = {
    scoringId: data.scoringId,
    category: data.category,
    version,
    input: data.input,
    source,
    chunks: splitContiguous(items, Math.ceil(items.length / data.chunkSize)),
  };
  await ctx.store.put(scoringPlanKey(data.scoringId), JSON.stringify(plan));
  await ctx.scoringRuns.addFlow(plan);
  return { version, images: items.length, chunks: plan.chunks.length };
}

async function unpackScoringArchive(ctx: JobContext, store: BlobStore, key: string, scoringId: string): Promise<{ file: string; key: string }[]> {
  try {
    return await unpackArchive({ source: store, key, target: ctx.store, prefix: scoringInputPrefix(scoringId), limits: archiveLimitsOf(ctx.config), scratchDir: ctx.scratchDir });
  } catch (error) {
    if (error instanceof ArchiveRejectedError) throw new UnrecoverableError(error.message);
    throw error;
  }
}

/** Scores one chunk; its rows go to a key fixed by (scoring, chunk), so a retry replaces them. */
export async function scoreChunkHandler(job: Job, ctx: JobContext): Promise<{ rows: number }> {
  const data = parseJobData(scoreChunkJob, job);
  const plan = await readScoringPlan(ctx.store, data.scoringId);
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
    await ctx.store.put(scoringChunkKey(data.scoringId, data.chunk), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await ctx.scoringRuns.recordChunkProgress(data.scoringId, data.chunk, items.length);
    return { rows: rows.length };
  } catch (error) {
    await ctx.scoringRuns.recordChunkFailure(data.scoringId, data.chunk, (error as Error).message).catch(() => undefined);
    throw error;
  } finally {
    lease.done();
    await input.close();
  }
}

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
  return { images: summary.images, scored: summary.scored, failed: summary.failed, anomalous: summary.anomalous };
}

/** Scheduled: removes online results older than ONLINE_RESULTS_TTL_HOURS. */
export async function sweepOnlineResultsHandler(_job: Job, ctx: JobContext): Promise<{ removed: number }> {
  const removed = await sweepOnlineResults(ctx.store, ctx.config.ONLINE_RESULTS_TTL_HOURS * 3600_000);
  return { removed: removed.length };
}
