import { mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { FleetConfig, JobName, QueueName, WorkerRole, s3Connection } from '@padim-fleet/contracts';
import { RUN_MARK_TTL_SECONDS, createRedis, failedRunKey } from '@padim-fleet/fleet';
import { BlobStore, ModelRegistry, createBlobStore, runPrefix } from '@padim-fleet/storage';
import { extractFeatures } from './jobs/extract-features.handler';
import { fitGaussian } from './jobs/fit-gaussian.handler';
import { JobContext } from './jobs/job-context';
import { FeatureExtractorRepository } from './repositories/feature-extractor.repository';

type Handler = (job: Job, ctx: JobContext) => Promise<unknown>;

/** Every job name has its handler; a missing one is a compile error. */
const HANDLERS: Record<JobName, Handler> = {
  [JobName.ExtractFeatures]: extractFeatures,
  [JobName.FitGaussian]: fitGaussian,
};

const ROLE_QUEUES: Partial<Record<WorkerRole, QueueName>> = { extract: QueueName.Extract, reduce: QueueName.Reduce };

export interface FleetWorker {
  readonly roles: WorkerRole[];
  readonly workers: Worker[];
  /** Finishes the current jobs (up to `graceMs`), then releases them to other workers and disconnects. */
  close(graceMs?: number): Promise<void>;
}

export interface FleetWorkerOptions {
  /** Log lines go here; default console. */
  log?: (line: string) => void;
  store?: BlobStore;
}

export async function startFleetWorker(config: FleetConfig, opts: FleetWorkerOptions = {}): Promise<FleetWorker> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const store = opts.store ?? createBlobStore(config.PADIM_STORE, s3Connection(config));
  const redis: Redis = createRedis(config.REDIS_URL, 'padim-worker');
  const scratchDir = config.PADIM_SCRATCH_DIR ?? path.join(os.tmpdir(), 'padim-reduce');
  mkdirSync(scratchDir, { recursive: true });
  const ctx: JobContext = {
    config,
    store,
    registry: new ModelRegistry(store),
    redis,
    extractors: new FeatureExtractorRepository({ device: config.PADIM_DEVICE, threads: config.PADIM_THREADS }, config.PADIM_CACHE_DIR),
    scratchDir,
  };
  const concurrency: Record<WorkerRole, number> = { extract: config.EXTRACT_CONCURRENCY, reduce: config.REDUCE_CONCURRENCY, score: config.SCORE_CONCURRENCY };
  const roles = config.WORKER_ROLES.filter((r) => ROLE_QUEUES[r] !== undefined);
  const workers = roles.map((role) => {
    const worker = new Worker(
      ROLE_QUEUES[role]!,
      async (job: Job) => {
        const handler = HANDLERS[job.name as JobName];
        if (!handler) throw new UnrecoverableError(`no handler for job ${job.name} on queue ${ROLE_QUEUES[role]}`);
        return handler(job, ctx);
      },
      {
        connection: redis,
        prefix: config.PADIM_QUEUE_PREFIX,
        concurrency: concurrency[role],
        lockDuration: config.LOCK_DURATION_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        maxStalledCount: 2,
      },
    );
    worker.on('failed', (job, error) => {
      if (!job) return;
      const final = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      log(`${role}: job ${job.id} failed (attempt ${job.attemptsMade}${final ? ', final' : ''}): ${error.message}`);
      if (final) void cleanUpFailedRun(ctx, job).catch((e: Error) => log(`${role}: cleaning up after ${job.id} failed: ${e.message}`));
    });
    worker.on('completed', (job) => log(`${role}: job ${job.id} completed`));
    worker.on('error', (error) => log(`${role}: ${error.message}`));
    return worker;
  });
  log(`worker: roles ${roles.join(', ')} on ${config.REDIS_URL} (prefix ${config.PADIM_QUEUE_PREFIX}), store ${store.location}`);

  return {
    roles,
    workers,
    async close(graceMs = 60_000) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
      if (timedOut) await Promise.all(workers.map((w) => w.close(true)));
      await ctx.extractors.release();
      await redis.quit().catch(() => redis.disconnect());
      await store.close?.();
    },
  };
}

/**
 * A job that will not be retried fails its run: mark the run failed (so the other shards stop and
 * drop what they write) and remove the run's partials, so nothing is orphaned in the store.
 */
async function cleanUpFailedRun(ctx: JobContext, job: Job): Promise<void> {
  const runId = (job.data as { runId?: unknown }).runId;
  if (typeof runId !== 'string' || !/^[A-Za-z0-9-]{8,64}$/.test(runId)) return;
  await ctx.redis.set(failedRunKey(ctx.config.PADIM_QUEUE_PREFIX, runId), '1', 'EX', RUN_MARK_TTL_SECONDS);
  await ctx.store.deletePrefix(runPrefix(runId));
}
