import type { Redis } from 'ioredis';
import { Job, UnrecoverableError } from 'bullmq';
import type { z } from 'zod';
import { FleetConfig, parseContract } from '@padim-fleet/contracts';
import { type FleetLogger, ScoringRuns, TrainingRuns, WorkerMetrics, cancelKey, failedRunKey } from '@padim-fleet/fleet';
import type { RuntimeOptions } from '@padim-fleet/inference';
import type { BlobStore, ModelRegistry } from '@padim-fleet/storage';
import type { FeatureExtractorRepository } from '../repositories/feature-extractor.repository';
import type { ScorerCacheRepository } from '../repositories/scorer-cache.repository';

/** What every job handler works with. */
export interface JobContext {
  config: FleetConfig;
  store: BlobStore;
  registry: ModelRegistry;
  redis: Redis;
  extractors: FeatureExtractorRepository;
  scorers: ScorerCacheRepository;
  /** Queues the flow of a prepared batch scoring. */
  scoringRuns: ScoringRuns;
  /** Plans and queues the flow of a run whose uploaded archive was unpacked. */
  trainingRuns: TrainingRuns;
  /** Scratch folder for the reducer's block outputs. */
  scratchDir: string;
  /** The worker's Prometheus metrics (images extracted and scored). */
  metrics: WorkerMetrics;
  /** The job's logger: its lines carry the job's `jobId`, `jobName`, `queue` and its run's ids (see jobLogFields). */
  log: FleetLogger;
}

/** The fields of a job's data that say which run, scoring or request it serves, on every line about it. */
const JOB_DATA_FIELDS = ['runId', 'scoringId', 'requestId', 'category', 'version', 'shard', 'chunk'] as const;

/**
 * What a job's log lines carry: its id, name and queue, and whichever of `runId`, `scoringId`,
 * `requestId`, `category`, `version`, `shard` and `chunk` its data has. The data is read before it is
 * parsed (a job that fails its contract is logged too), so only short strings and numbers are taken.
 */
export function jobLogFields(job: Job): Record<string, string | number> {
  const fields: Record<string, string | number> = { jobId: String(job.id), jobName: job.name, queue: job.queueName };
  const data = (typeof job.data === 'object' && job.data !== null ? job.data : {}) as Record<string, unknown>;
  for (const key of JOB_DATA_FIELDS) {
    const value = data[key];
    if ((typeof value === 'string' && value.length <= 128) || typeof value === 'number') fields[key] = value;
  }
  return fields;
}

/** Adds to the job's logger what a handler learns later (the plan's category and version), without repeating a field it has. */
export function bindJobFields(log: FleetLogger, fields: Record<string, string | number | null | undefined>): void {
  const bound = log.bindings();
  const missing = Object.fromEntries(Object.entries(fields).filter(([key, value]) => value !== null && value !== undefined && !(key in bound)));
  if (Object.keys(missing).length > 0) log.setBindings(missing);
}

/** onnxruntime's device, threads and backbone sessions, as the configuration sets them. */
export function runtimeOf(config: FleetConfig): RuntimeOptions {
  return { device: config.PADIM_DEVICE, threads: config.PADIM_THREADS, backboneSessions: config.PADIM_BACKBONE_SESSIONS };
}

/** Thrown when a run was cancelled or has already failed: no retry, and what the job wrote is removed. */
export class RunStoppedError extends UnrecoverableError {
  constructor(
    runId: string,
    readonly reason: 'cancelled' | 'failed',
  ) {
    super(reason === 'cancelled' ? `run ${runId} was cancelled` : `run ${runId} has failed in another shard`);
  }
}

export async function runStopReason(ctx: JobContext, runId: string): Promise<'cancelled' | 'failed' | null> {
  const prefix = ctx.config.PADIM_QUEUE_PREFIX;
  const [cancelled, failed] = await ctx.redis.mget(cancelKey(prefix, runId), failedRunKey(prefix, runId));
  return cancelled ? 'cancelled' : failed ? 'failed' : null;
}

export async function throwIfStopped(ctx: JobContext, runId: string): Promise<void> {
  const reason = await runStopReason(ctx, runId);
  if (reason) throw new RunStoppedError(runId, reason);
}

/**
 * A job's payload parsed with its contract. The data comes from Redis and may have been written by
 * another version, so a payload that does not parse fails the job at once, without retries.
 */
export function parseJobData<S extends z.ZodType>(schema: S, job: Job): z.infer<S> {
  try {
    return parseContract(schema, job.data, `job ${job.id}`);
  } catch (error) {
    throw new UnrecoverableError((error as Error).message);
  }
}
