import { mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  DeliverCallbackJob,
  FleetConfig,
  JobName,
  QueueName,
  TRANSIENT_JOB_RETENTION,
  WorkerRole,
  abortStaleWrites,
  fitGaussianJob,
  s3Connection,
  sweepOnlineResults,
} from '@padim-fleet/contracts';
import {
  type FleetLogger,
  CompletionCallbacks,
  RUN_MARK_TTL_SECONDS,
  RedisRegistryLock,
  ScoringRuns,
  TrainingRuns,
  WorkerMetrics,
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
import { failedCallback, succeededCallback } from './jobs/completion-events';
import { CallbackDelivery, deliverCallbackHandler } from './jobs/deliver-callback.handler';
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
import { JobEnd, countRunEnd } from './job-metrics';
import { MetricsServer, startMetricsServer } from './metrics-server';

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
  [JobName.DeliverCallback]: deliverCallbackHandler,
};

/** How often the score pool sweeps expired online results, and the reduce workers abort stale writes. */
const SWEEP_EVERY_MS = 3600_000;

/** Deliveries a worker process makes at once: they wait on the receivers, not on this machine. */
const CALLBACK_CONCURRENCY = 8;

const ROLE_QUEUES: Record<WorkerRole, QueueName> = { extract: QueueName.Extract, reduce: QueueName.Reduce, score: QueueName.Score };

export interface FleetWorker {
  readonly roles: WorkerRole[];
  readonly workers: Worker[];
  readonly metrics: WorkerMetrics;
  /** The /metrics and /healthz server's address, when WORKER_METRICS_PORT is set. */
  readonly metricsUrl: string | null;
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
  const metrics = new WorkerMetrics();
  const ctx: JobContext = {
    log: logger,
    config,
    store,
    registry,
    redis,
    extractors: new FeatureExtractorRepository(runtime, config.PADIM_CACHE_DIR),
    scorers: new ScorerCacheRepository(registry, runtime, config.SCORE_CACHE_MB * 1024 ** 2, config.PADIM_CACHE_DIR, (hit) => metrics.modelCacheLookup(hit)),
    scoringRuns,
    trainingRuns,
    scratchDir,
    metrics,
  };
  metrics.watchModelCache(() => ctx.scorers.loadedBytes);
  const countEnd = (job: Job, end: JobEnd) =>
    countRunEnd(metrics, redis, config.PADIM_QUEUE_PREFIX, job, end).catch((e: Error) =>
      logger.child(jobLogFields(job)).warn({ err: e }, `worker: counting the end of ${job.id}'s run failed: ${e.message}`),
    );
  const callbacks = new CompletionCallbacks(redis, config.PADIM_QUEUE_PREFIX, {
    attempts: config.PADIM_CALLBACK_ATTEMPTS,
    backoffMs: config.PADIM_CALLBACK_BACKOFF_MS,
  });
  /** Queues a run's completion event; a failure is logged, never the job's: the callback must not fail or hold up the run. */
  const sendCallback = async (log: FleetLogger, role: string, job: Job, build: () => DeliverCallbackJob | null | Promise<DeliverCallbackJob | null>) => {
    try {
      const callback = await build();
      if (callback) await callbacks.send(callback);
    } catch (error) {
      log.error({ err: error }, `${role}: queueing the completion callback of ${job.id} failed: ${(error as Error).message}`);
    }
  };
  const concurrency: Record<WorkerRole, number> = { extract: config.EXTRACT_CONCURRENCY, reduce: config.REDUCE_CONCURRENCY, score: config.SCORE_CONCURRENCY };
  const roles = config.WORKER_ROLES;
  const workers = roles.map((role) => {
    const queue = ROLE_QUEUES[role];
    metrics.jobsInFlight.set({ queue }, 0);
    const worker = new Worker(
      queue,
      async (job: Job) => {
        // Every line about this job, the handler's included, carries its ids (jobLogFields).
        const log = logger.child(jobLogFields(job));
        const attempt = job.attemptsMade + 1;
        const handler = HANDLERS[job.name as JobName];
        if (!handler) {
          log.error(`${role}: no handler for job ${job.name}`);
          throw new UnrecoverableError(`no handler for job ${job.name} on queue ${queue}`);
        }
        // No line at the start: a handler binds what it learns first (an extract job's category and version, from
        // its run's plan), and the lines below come after, on the same logger.
        const started = Date.now();
        const endTimer = metrics.jobSeconds.startTimer({ queue, job: job.name });
        metrics.jobsInFlight.inc({ queue });
        let result: unknown;
        try {
          result = await handler(job, { ...ctx, log });
          endTimer({ outcome: 'completed' });
          log.info({ attempt, ms: Date.now() - started }, `${role}: job ${job.id} completed`);
          await countEnd(job, { completed: true, result });
        } catch (error) {
          endTimer({ outcome: 'failed' });
          // A last failure fails the run: clean up before BullMQ records it, so no reader sees a failed run with leftovers.
          const final = error instanceof UnrecoverableError || attempt >= (job.opts.attempts ?? 1);
          const message = `${role}: job ${job.id} failed (attempt ${attempt}${final ? ', final' : ''}): ${(error as Error).message}`;
          if (final) log.error({ err: error, attempt, ms: Date.now() - started }, message);
          else log.warn({ err: error, attempt, ms: Date.now() - started }, message);
          if (final) {
            // Queued first: the first job to fail a run names the reason (the others only stop because it failed).
            await sendCallback(log, role, job, () => failedCallback(ctx, job, error as Error));
            await cleanUpFailedRun(ctx, job).catch((e: Error) => log.error({ err: e }, `${role}: cleaning up after ${job.id} failed: ${e.message}`));
          }
          await countEnd(job, { completed: false, final, error: error instanceof Error ? error : null });
          throw error;
        } finally {
          metrics.jobsInFlight.dec({ queue });
        }
        await sendCallback(log, role, job, () => succeededCallback(job, result));
        return result;
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
      void sendCallback(log, role, job, () => failedCallback(ctx, job, error))
        .then(() => cleanUpFailedRun(ctx, job))
        .catch((e: Error) => log.error({ err: e }, `${role}: cleaning up after ${job.id} failed: ${e.message}`));
      void countEnd(job, { completed: false, final: true, error });
    });
    worker.on('error', (error) => logger.error({ err: error }, `${role}: ${error.message}`));
    return worker;
  });
  // Only a worker that may send callbacks (its PADIM_CALLBACK_HOSTS lists hosts, so it has the key) takes deliveries.
  if (config.PADIM_CALLBACK_HOSTS.length > 0) {
    const deliveries: Worker = new Worker(QueueName.Callbacks, (job: Job): Promise<unknown> => deliverCallbackHandler(job, ctx), {
      connection: redis,
      prefix: config.PADIM_QUEUE_PREFIX,
      concurrency: CALLBACK_CONCURRENCY,
      lockDuration: config.LOCK_DURATION_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
      maxStalledCount: config.MAX_STALLED_COUNT,
    });
    deliveries.on('completed', (job, result) => {
      const delivery = result as CallbackDelivery;
      logger.info(
        { jobId: job.id, status: delivery.status, attempt: delivery.attempt },
        `callbacks: ${job.id} delivered (answered ${delivery.status} to attempt ${delivery.attempt})`,
      );
    });
    deliveries.on('failed', (job, error) => {
      if (!job) return;
      const last = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      const line = `callbacks: ${job.id} attempt ${job.attemptsMade} failed${last ? ', given up' : ', will retry'}: ${error.message}`;
      if (last) logger.error({ jobId: job.id, err: error }, line);
      else logger.warn({ jobId: job.id, err: error }, line);
    });
    deliveries.on('error', (error) => logger.error({ err: error }, `callbacks: ${error.message}`));
    workers.push(deliveries);
  }
  // Up before the backbones preload, so that /healthz answers while they do.
  let metricsServer: MetricsServer | null = null;
  if (config.WORKER_METRICS_PORT !== undefined) {
    metricsServer = await startMetricsServer({
      host: config.WORKER_METRICS_HOST,
      port: config.WORKER_METRICS_PORT,
      metrics,
      problem: () => healthProblem(redis, workers),
    });
    logger.info(`worker: metrics on ${metricsServer.url}/metrics, health on ${metricsServer.url}/healthz`);
  }
  if (roles.includes('score')) {
    // Every score worker upserts the same scheduler, so the pool sweeps once per period whatever its size.
    await scoringRuns.queue.upsertJobScheduler(
      sweepOnlineResults.jobId(),
      { every: SWEEP_EVERY_MS },
      { name: JobName.SweepOnlineResults, data: {}, opts: TRANSIENT_JOB_RETENTION },
    );
  }
  let reduceQueue: Queue | null = null;
  if (roles.includes('reduce')) {
    // As for the sweep: one scheduler whatever the number of reduce workers.
    reduceQueue = new Queue(QueueName.Reduce, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX });
    await reduceQueue.upsertJobScheduler(
      abortStaleWrites.jobId(),
      { every: SWEEP_EVERY_MS },
      { name: JobName.AbortStaleWrites, data: {}, opts: TRANSIENT_JOB_RETENTION },
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
    metrics,
    metricsUrl: metricsServer?.url ?? null,
    async close(graceMs = 60_000) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
      if (timedOut) await Promise.all(workers.map((w) => w.close(true)));
      await ctx.extractors.release();
      await ctx.scorers.clear();
      await scoringRuns.close();
      await trainingRuns.close();
      await callbacks.close();
      await reduceQueue?.close();
      await redis.quit().catch(() => redis.disconnect());
      await store.close?.();
      await metricsServer?.close();
    },
  };
}

/** Why the worker is not healthy (its Redis connection down, or one of its BullMQ workers stopped), or null. */
function healthProblem(redis: Redis, workers: Worker[]): string | null {
  if (redis.status !== 'ready') return `redis connection ${redis.status}`;
  const stopped = workers.filter((w) => !w.isRunning()).map((w) => w.name);
  return stopped.length > 0 ? `workers not running: ${stopped.join(', ')}` : null;
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
