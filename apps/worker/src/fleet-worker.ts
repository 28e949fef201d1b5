import { mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { FleetConfig, JobName, QueueName, WorkerRole, abortStaleWrites, fitGaussianJob, s3Connection, sweepOnlineResults } from '@padim-fleet/contracts';
import {
  type FleetLogger,
  RUN_MARK_TTL_SECONDS,
  RedisRegistryLock,
  ScoringRuns,
  TrainingRuns,
  checkEvictionPolicy,
  cleanUpWithRetries,
  createFleetLogger,
  createRedis,
  failedRunKey,
  removeOnlineRequest,
} from '@padim-fleet/fleet';
import {
  BlobStore,
  ModelRegistry,
  openBlobStore,
  runPrefix,
  scoringChunksPrefix,
  scoringInputPrefix,
  scoringPlanKey,
  scoringUploadPrefix,
} from '@padim-fleet/storage';
import { abortStaleWritesHandler } from './jobs/abort-stale-writes.handler';
import { assembleScoringHandler } from './jobs/assemble-scoring.handler';
import { extractFeaturesHandler } from './jobs/extract-features.handler';
import { fitGaussianHandler } from './jobs/fit-gaussian.handler';
import { prepareScoringHandler } from './jobs/prepare-scoring.handler';
import { prepareTrainingHandler } from './jobs/prepare-training.handler';
import { scoreChunkHandler } from './jobs/score-chunk.handler';
import { scoreImagesHandler } from './jobs/score-images.handler';
import { sweepOnlineResultsHandler } from './jobs/sweep-online-results.handler';
import { ScorerCacheRepository } from './repositories/scorer-cache.repository';
import { JobContext, jobLogFields, runtimeOf } from './jobs/job-context';
import { FeatureExtractorRepository } from './repositories/feature-extractor.repository';

type Handler = (job: Job, ctx: JobContext) => Promise<unknown>;

/** Every job name has its handler; a missing one is a compile error. */
const HANDLERS: Record<JobName, Handler> = {
  [JobName.ExtractFeatures]: extractFeaturesHandler,
  [JobName.FitGaussian]: fitGaussianHandler,
  [JobName.ScoreImages]: scoreImagesHandler,
  [JobName.PrepareScoring]: prepareScoringHandler,
  [JobName.ScoreChunk]: scoreChunkHandler,
  [JobName.AssembleScoring]: assembleScoringHandler,
  [JobName.SweepOnlineResults]: sweepOnlineResultsHandler,
  [JobName.AbortStaleWrites]: abortStaleWritesHandler,
  [JobName.PrepareTraining]: prepareTrainingHandler,
};

/** How often the score pool sweeps expired online results, and the reduce workers abort stale writes. */
const SWEEP_EVERY_MS = 3600_000;

const ROLE_QUEUES: Record<WorkerRole, QueueName> = { extract: QueueName.Extract, reduce: QueueName.Reduce, score: QueueName.Score };

export interface FleetWorker {
  readonly roles: WorkerRole[];
  readonly workers: Worker[];
  /** Finishes the current jobs (up to `graceMs`), then releases them to other workers and disconnects. */
  close(graceMs?: number): Promise<void>;
}

export interface FleetWorkerOptions {
  /** The process's logger; default one made from the configuration (stdout, LOG_LEVEL). */
  logger?: FleetLogger;
  store?: BlobStore;
}

export async function startFleetWorker(config: FleetConfig, opts: FleetWorkerOptions = {}): Promise<FleetWorker> {
  const logger = opts.logger ?? createFleetLogger(config, 'worker');
  const warn = (message: string) => logger.warn(message);
  const store = opts.store ?? (await openBlobStore(config.PADIM_STORE, s3Connection(config), warn));
  const redis: Redis = createRedis(config.REDIS_URL, 'padim-worker');
  try {
    await checkEvictionPolicy(redis, warn);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const scratchDir = config.PADIM_SCRATCH_DIR ?? path.join(os.tmpdir(), 'padim-reduce');
  mkdirSync(scratchDir, { recursive: true });
  const registry = new ModelRegistry(store, { lock: new RedisRegistryLock(redis, config.PADIM_QUEUE_PREFIX) });
  const runtime = runtimeOf(config);
  const retry = { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS };
  const scoringRuns = new ScoringRuns(redis, config.PADIM_QUEUE_PREFIX, retry);
  const trainingRuns = new TrainingRuns(redis, config.PADIM_QUEUE_PREFIX, store, retry);
  const ctx: JobContext = {
    log: logger,
    config,
    store,
    registry,
    redis,
    extractors: new FeatureExtractorRepository(runtime, config.PADIM_CACHE_DIR),
    scorers: new ScorerCacheRepository(registry, runtime, config.SCORE_CACHE_MB * 1024 ** 2, config.PADIM_CACHE_DIR),
    scoringRuns,
    trainingRuns,
    scratchDir,
  };
  const concurrency: Record<WorkerRole, number> = { extract: config.EXTRACT_CONCURRENCY, reduce: config.REDUCE_CONCURRENCY, score: config.SCORE_CONCURRENCY };
  const roles = config.WORKER_ROLES;
  const workers = roles.map((role) => {
    const worker = new Worker(
      ROLE_QUEUES[role],
      async (job: Job) => {
        // Every line about this job, the handler's included, carries its ids (jobLogFields).
        const log = logger.child(jobLogFields(job));
        const attempt = job.attemptsMade + 1;
        const handler = HANDLERS[job.name as JobName];
        if (!handler) {
          log.error(`${role}: no handler for job ${job.name}`);
          throw new UnrecoverableError(`no handler for job ${job.name} on queue ${ROLE_QUEUES[role]}`);
        }
        // No line at the start: a handler binds what it learns first (an extract job's category and version, from
        // its run's plan), and the lines below come after, on the same logger.
        const started = Date.now();
        try {
          const result = await handler(job, { ...ctx, log });
          log.info({ attempt, ms: Date.now() - started }, `${role}: job ${job.id} completed`);
          return result;
        } catch (error) {
          // A last failure fails the run: clean up before BullMQ records it, so no reader sees a failed run with leftovers.
          const final = error instanceof UnrecoverableError || attempt >= (job.opts.attempts ?? 1);
          const message = `${role}: job ${job.id} failed (attempt ${attempt}${final ? ', final' : ''}): ${(error as Error).message}`;
          if (final) log.error({ err: error, attempt, ms: Date.now() - started }, message);
          else log.warn({ err: error, attempt, ms: Date.now() - started }, message);
          if (final) await cleanUpFailedRun(ctx, job).catch((e: Error) => log.error({ err: e }, `${role}: cleaning up after ${job.id} failed: ${e.message}`));
          throw error;
        }
      },
      {
        connection: redis,
        prefix: config.PADIM_QUEUE_PREFIX,
        concurrency: concurrency[role],
        lockDuration: config.LOCK_DURATION_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        maxStalledCount: config.MAX_STALLED_COUNT,
      },
    );
    worker.on('failed', (job, error) => {
      // A job that ran in the processor above was logged there. One that stalled more than MAX_STALLED_COUNT
      // times is failed by the next worker to take it without running the processor, so it is logged and
      // its run is cleaned up here.
      if (!job?.deferredFailure) return;
      const log = logger.child(jobLogFields(job));
      log.error({ err: error, attempt: job.attemptsMade }, `${role}: job ${job.id} failed (attempt ${job.attemptsMade}): ${error.message}`);
      void cleanUpFailedRun(ctx, job).catch((e: Error) => log.error({ err: e }, `${role}: cleaning up after ${job.id} failed: ${e.message}`));
    });
    worker.on('error', (error) => logger.error({ err: error }, `${role}: ${error.message}`));
    return worker;
  });
  if (roles.includes('score')) {
    // Every score worker upserts the same scheduler, so the pool sweeps once per period whatever its size.
    await scoringRuns.queue.upsertJobScheduler(
      sweepOnlineResults.jobId(),
      { every: SWEEP_EVERY_MS },
      { name: JobName.SweepOnlineResults, data: {}, opts: { removeOnComplete: 10, removeOnFail: 10 } },
    );
  }
  let reduceQueue: Queue | null = null;
  if (roles.includes('reduce')) {
    // As for the sweep: one scheduler whatever the number of reduce workers.
    reduceQueue = new Queue(QueueName.Reduce, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX });
    await reduceQueue.upsertJobScheduler(
      abortStaleWrites.jobId(),
      { every: SWEEP_EVERY_MS },
      { name: JobName.AbortStaleWrites, data: {}, opts: { removeOnComplete: 10, removeOnFail: 10 } },
    );
  }
  if (roles.includes('extract') || roles.includes('reduce')) {
    for (const name of config.PADIM_PRELOAD_BACKBONES) {
      const started = Date.now();
      await ctx.extractors.backbone(name).then(
        () => logger.info({ backbone: name, ms: Date.now() - started }, `worker: backbone ${name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`),
        (error: Error) => logger.warn({ err: error, backbone: name }, `worker: preloading backbone ${name} failed: ${error.message}`),
      );
    }
  }
  logger.info(
    { roles, prefix: config.PADIM_QUEUE_PREFIX, store: store.location },
    `worker: roles ${roles.join(', ')} on ${config.REDIS_URL} (prefix ${config.PADIM_QUEUE_PREFIX}), store ${store.location}`,
  );

  return {
    roles,
    workers,
    async close(graceMs = 60_000) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
      if (timedOut) await Promise.all(workers.map((w) => w.close(true)));
      await ctx.extractors.release();
      await ctx.scorers.clear();
      await scoringRuns.close();
      await trainingRuns.close();
      await reduceQueue?.close();
      await redis.quit().catch(() => redis.disconnect());
      await store.close?.();
    },
  };
}

/**
 * A job that will not be retried fails its run: mark the run failed (so the other shards stop and
 * drop what they write) and remove the run's partials (or an online request's images), so nothing is
 * orphaned in the store. A reduce (failed, or stopped by a cancel) also removes what it uploaded for a
 * version it did not publish.
 */
async function cleanUpFailedRun(ctx: JobContext, job: Job): Promise<void> {
  const data = job.data as { runId?: unknown; scoringId?: unknown; requestId?: unknown };
  const id = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9-]{8,64}$/.test(v);
  if (id(data.runId)) {
    await ctx.redis.set(failedRunKey(ctx.config.PADIM_QUEUE_PREFIX, data.runId), '1', 'EX', RUN_MARK_TTL_SECONDS);
    await ctx.store.deletePrefix(runPrefix(data.runId));
  }
  const reduce = job.name === JobName.FitGaussian ? fitGaussianJob.safeParse(job.data) : null;
  if (reduce?.success) await ctx.registry.deleteUnpublishedVersion(reduce.data.category, reduce.data.version);
  if (id(data.scoringId)) {
    // The scoring's scratch objects go; results written so far stay for inspection.
    await ctx.store.deletePrefix(scoringInputPrefix(data.scoringId));
    await ctx.store.deletePrefix(scoringChunksPrefix(data.scoringId));
    await ctx.store.delete(scoringPlanKey(data.scoringId));
    await ctx.store.deletePrefix(scoringUploadPrefix(data.scoringId));
  }
  // A failed online request keeps neither its images nor the PNGs written so far; retried, like the
  // handler's own clean-up, while the store is unreachable (a last failure is often an outage).
  const requestId = data.requestId;
  if (job.name === JobName.ScoreImages && id(requestId)) await cleanUpWithRetries(() => removeOnlineRequest(ctx.store, requestId));
}
