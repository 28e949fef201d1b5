import { z } from 'zod';
import { callbackUrl } from '../api/completion-callback.dto';
import { categoryName, runId, versionName } from '../names';
import { JobName, QueueName } from './queue-name';

/**
 * A batch scoring run is prepared first (the archive is checked and unpacked, or the prefix listed,
 * into a plan of chunks), then runs as a flow: one ScoreChunk per chunk under an AssembleScoring parent.
 */
export const prepareScoringJob = z
  .object({
    scoringId: runId,
    category: categoryName,
    version: versionName.nullable(),
    /** `s3://bucket/key.(zip|tar|tar.gz|tgz)` or `s3://bucket/prefix/`; uploads are stored first and named here. */
    input: z.string().min(6),
    chunkSize: z.number().int().min(1).max(1024),
    createdAt: z.string(),
    /** The request's callbackUrl, for the scoring's completion event. */
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
export type PrepareScoringJob = z.infer<typeof prepareScoringJob>;

export const scoreChunkJob = z
  .object({
    scoringId: runId,
    chunk: z.number().int().min(0),
    imageCount: z.number().int().min(0),
  })
  .strict();
export type ScoreChunkJob = z.infer<typeof scoreChunkJob>;

export const assembleScoringJob = z
  .object({
    scoringId: runId,
    chunkCount: z.number().int().min(0),
    category: categoryName,
    version: versionName,
    /** The request's callbackUrl: the scoring's completion event goes there, also when a chunk fails the scoring. */
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
export type AssembleScoringJob = z.infer<typeof assembleScoringJob>;

export const prepareScoring = {
  name: JobName.PrepareScoring,
  queue: QueueName.Score,
  schema: prepareScoringJob,
  jobId: (data: Pick<PrepareScoringJob, 'scoringId'>) => data.scoringId,
} as const;

export const scoreChunk = {
  name: JobName.ScoreChunk,
  queue: QueueName.Score,
  schema: scoreChunkJob,
  jobId: (data: Pick<ScoreChunkJob, 'scoringId' | 'chunk'>) => `${data.scoringId}-chunk-${data.chunk}`,
} as const;

export const assembleScoring = {
  name: JobName.AssembleScoring,
  queue: QueueName.Score,
  schema: assembleScoringJob,
  jobId: (data: Pick<AssembleScoringJob, 'scoringId'>) => `${data.scoringId}-assemble`,
} as const;

/** What PrepareScoring writes to `scorings/<id>/plan.json`. */
export const scoringPlan = z
  .object({
    scoringId: runId,
    category: categoryName,
    version: versionName,
    input: z.string(),
    /** Where the chunks' keys are read: 'store' (the fleet's own store: unpacked archives) or 's3://bucket'. */
    source: z.string().regex(/^(store|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/),
    /** Per chunk: each image's name in the results and the object key it is read from. */
    chunks: z.array(z.array(z.object({ file: z.string().min(1), key: z.string().min(1) }).strict())),
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
export type ScoringPlan = z.infer<typeof scoringPlan>;

/** Scheduled on the score queue: removes online results older than ONLINE_RESULTS_TTL_HOURS. */
export const sweepOnlineResultsJob = z.object({}).strict();
export type SweepOnlineResultsJob = z.infer<typeof sweepOnlineResultsJob>;

export const sweepOnlineResults = {
  name: JobName.SweepOnlineResults,
  queue: QueueName.Score,
  schema: sweepOnlineResultsJob,
  /** One scheduler for the whole pool: every score worker upserts the same one. */
  jobId: () => 'sweep-online-results',
} as const;
