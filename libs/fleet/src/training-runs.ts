import { FlowJob, FlowProducer, Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  ExtractFeaturesJob,
  ExtractFeaturesResult,
  ExtractProgress,
  FitGaussianJob,
  FitGaussianResult,
  JobName,
  JobState,
  PrepareTrainingJob,
  QueueName,
  ReduceProgress,
  RetryPolicy,
  RunState,
  ShardStatus,
  TrainingPlan,
  TrainingRunSummary,
  TrainingStatus,
  extractFeatures,
  fitGaussian,
  fitGaussianJob,
  jobOptions,
  parseContract,
  prepareTraining,
  prepareTrainingJob,
  trainingPlan,
  versionFor,
} from '@padim-fleet/contracts';
import { BlobStore, runPlanKey } from '@padim-fleet/storage';
import { TimeIndex } from './time-index';

/** Redis key that marks a run as cancelled; workers check it between batches. */
export const cancelKey = (queuePrefix: string, runId: string) => `${queuePrefix}:run-cancelled:${runId}`;
/** Redis key that marks a run as failed for good (a shard ran out of attempts); other shards stop and clean up. */
export const failedRunKey = (queuePrefix: string, runId: string) => `${queuePrefix}:run-failed:${runId}`;
export const RUN_MARK_TTL_SECONDS = 30 * 24 * 3600;
/** Sorted set of the fleet's run ids scored by creation time (ms): GET /v1/trainings reads its newest entries only. */
export const runIndexKey = (queuePrefix: string) => `${queuePrefix}:runs-by-time`;
/** The index keeps the newest this many runs (a listing shows at most 1000). */
export const RUN_INDEX_MAX = 10_000;

export async function readPlan(store: BlobStore, runId: string): Promise<TrainingPlan> {
  const text = (await store.get(runPlanKey(runId))).toString('utf8');
  return parseContract(trainingPlan, JSON.parse(text), `plan of run ${runId}`);
}

/**
 * Submits training runs as BullMQ flows (a FitGaussian parent on the reduce queue, one ExtractFeatures
 * child per shard) and reads their status back from the jobs.
 */
export class TrainingRuns {
  private readonly flows: FlowProducer;
  private readonly extractQueue: Queue;
  private readonly reduceQueue: Queue;
  private readonly index: TimeIndex;

  constructor(
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly store: BlobStore,
    private readonly retry: RetryPolicy,
  ) {
    this.flows = new FlowProducer({ connection: redis, prefix: queuePrefix });
    this.extractQueue = new Queue(QueueName.Extract, { connection: redis, prefix: queuePrefix });
    this.reduceQueue = new Queue(QueueName.Reduce, { connection: redis, prefix: queuePrefix });
    this.index = new TimeIndex(redis, runIndexKey(queuePrefix), RUN_INDEX_MAX);
  }

  /**
   * Writes the plan, indexes the run, then queues the flow; the run id is the parent job's id. When the
   * flow cannot be queued the plan and the index entry are removed, so nothing is left of the run.
   */
  async submit(plan: TrainingPlan): Promise<void> {
    await this.submitAll([plan]);
  }

  /**
   * Writes every plan and indexes the runs, then queues all the flows in one Redis transaction
   * (MULTI/EXEC): every run is queued or none is. When queueing fails the plans and index entries are
   * removed, so no plan.json is left without its run.
   */
  async submitAll(plans: TrainingPlan[]): Promise<void> {
    const written: TrainingPlan[] = [];
    try {
      for (const plan of plans) {
        await this.store.put(runPlanKey(plan.runId), JSON.stringify(plan));
        written.push(plan);
      }
      await this.index.add(plans.map((plan) => ({ id: plan.runId, createdAt: plan.createdAt })));
      await this.flows.addBulk(plans.map((plan) => this.flowOf(plan)));
    } catch (error) {
      await Promise.all([
        ...written.map((plan) => this.store.delete(runPlanKey(plan.runId)).catch(() => undefined)),
        this.index.remove(plans.map((plan) => plan.runId)).catch(() => undefined),
      ]);
      throw error;
    }
  }

  /** A run's flow: the FitGaussian parent on the reduce queue, one ExtractFeatures child per shard. */
  private flowOf(plan: TrainingPlan): FlowJob {
    const parent: FitGaussianJob = {
      runId: plan.runId,
      shardCount: plan.shards.length,
      category: plan.request.category,
      version: plan.version,
      createdAt: plan.createdAt,
      heldOutCount: plan.heldOut.length,
      promote: plan.request.promote,
      ...(plan.request.callbackUrl !== undefined ? { callbackUrl: plan.request.callbackUrl } : {}),
    };
    const options = jobOptions(this.retry);
    return {
      name: JobName.FitGaussian,
      queueName: QueueName.Reduce,
      data: parent,
      opts: { ...options, jobId: fitGaussian.jobId(parent) },
      children: plan.shards.map((files, shard) => {
        const data: ExtractFeaturesJob = { runId: plan.runId, shard, shardCount: plan.shards.length, imageCount: files.length };
        return {
          name: JobName.ExtractFeatures,
          queueName: QueueName.Extract,
          data,
          opts: { ...options, jobId: extractFeatures.jobId(data), failParentOnFailure: true },
        };
      }),
    };
  }

  /**
   * A run on an uploaded archive: indexed at once (it is listed while preparing), then its PrepareTraining
   * job unpacks the archive, plans and submits the run.
   */
  async submitUpload(data: PrepareTrainingJob): Promise<void> {
    const parsed = parseContract(prepareTrainingJob, data, `run ${data.runId}`);
    await this.index.addThenQueue({ id: parsed.runId, createdAt: parsed.createdAt }, () =>
      this.reduceQueue.add(JobName.PrepareTraining, parsed, { ...jobOptions(this.retry), jobId: prepareTraining.jobId(parsed) }),
    );
  }

  /** Whether the run's flow was queued (a retried PrepareTraining job must not queue it twice). */
  async submitted(runId: string): Promise<boolean> {
    return (await this.reduceQueue.getJob(fitGaussian.jobId({ runId }))) !== undefined;
  }

  /** The payload of a run's FitGaussian job (its category, version and callbackUrl), or null before its flow is queued. */
  async flowParent(runId: string): Promise<FitGaussianJob | null> {
    const parent = await this.reduceQueue.getJob(fitGaussian.jobId({ runId }));
    return parent ? parseContract(fitGaussianJob, parent.data, `job ${runId}`) : null;
  }

  /** Extract workers connected to Redis now (each BullMQ Worker instance counts once). */
  async extractWorkerCount(): Promise<number> {
    try {
      return (await this.extractQueue.getWorkers()).length;
    } catch {
      return 0;
    }
  }

  async status(runId: string): Promise<TrainingStatus | null> {
    // Each job's state is read before the job itself, so a finished state always comes with its finished job (timings, result).
    const reduceState = (await this.reduceQueue.getJobState(fitGaussian.jobId({ runId }))) as JobState;
    const parent = await this.reduceQueue.getJob(fitGaussian.jobId({ runId }));
    if (!parent) return this.preparingStatus(runId);
    const data = parseContract(fitGaussianJob, parent.data, `job ${runId}`);
    const shardReads = await Promise.all(
      Array.from({ length: data.shardCount }, async (_, shard) => {
        const jobId = extractFeatures.jobId({ runId, shard });
        const state = (await this.extractQueue.getJobState(jobId)) as JobState;
        return { state, job: await this.extractQueue.getJob(jobId) };
      }),
    );
    const shardJobs = shardReads.map((r) => r.job);
    const shards: ShardStatus[] = shardReads.map((r, shard) => shardStatus(r.job, r.state, shard));
    const reduceProgress = (typeof parent.progress === 'object' ? parent.progress : {}) as Partial<ReduceProgress>;
    const cancelled = (await this.redis.exists(cancelKey(this.queuePrefix, runId))) === 1;
    const result = parent.returnvalue as FitGaussianResult | null;
    const failedShard = shards.find((s) => s.state === 'failed');
    let state: RunState;
    if (reduceState === 'completed') state = 'completed';
    else if (cancelled) state = 'cancelled';
    else if (reduceState === 'failed' || failedShard) state = 'failed';
    else if (reduceState === 'active' || shards.some((s) => s.state === 'active' || s.state === 'completed')) state = 'running';
    else state = 'queued';

    const starts = shardJobs.map((j) => j?.processedOn).filter((t): t is number => typeof t === 'number');
    const ends = shardJobs.map((j) => j?.finishedOn).filter((t): t is number => typeof t === 'number');
    const created = Date.parse(data.createdAt);
    const firstStart = starts.length > 0 ? Math.min(...starts) : undefined;
    const extractEnd = ends.length === data.shardCount ? Math.max(...ends) : undefined;
    const finished = state === 'completed' || state === 'failed' ? parent.finishedOn : undefined;
    const seconds = (a?: number, b?: number) => (a !== undefined && b !== undefined ? (b - a) / 1000 : undefined);
    const error =
      state === 'failed'
        ? failedShard
          ? `shard ${failedShard.shard}: ${failedShard.error}`
          : parent.failedReason
        : state === 'cancelled'
          ? 'cancelled'
          : undefined;
    return {
      runId,
      category: data.category,
      version: data.version,
      state,
      createdAt: data.createdAt,
      startedAt: firstStart !== undefined ? new Date(firstStart).toISOString() : undefined,
      finishedAt: finished !== undefined ? new Date(finished).toISOString() : undefined,
      imageCount: shards.reduce((a, s) => a + s.imagesTotal, 0),
      heldOutCount: data.heldOutCount,
      shards,
      reduce: {
        state: reduceState,
        stage: reduceProgress.stage,
        done: reduceProgress.done,
        total: reduceProgress.total,
        attemptsMade: parent.attemptsMade,
        error: reduceState === 'failed' ? parent.failedReason : undefined,
      },
      timings: {
        queuedSeconds: seconds(created, firstStart),
        extractSeconds: seconds(firstStart, extractEnd),
        reduceSeconds: seconds(parent.processedOn ?? undefined, parent.finishedOn ?? undefined),
        totalSeconds: seconds(created, finished ?? undefined),
      },
      result: state === 'completed' && result ? result : undefined,
      error,
    };
  }

  /** A run whose uploaded archive is being unpacked (or failed to be): no shards yet. */
  private async preparingStatus(runId: string): Promise<TrainingStatus | null> {
    const prepare = await this.reduceQueue.getJob(prepareTraining.jobId({ runId }));
    if (!prepare) return null;
    const summary = await this.preparingSummary(prepare);
    return {
      ...summary,
      imageCount: 0,
      heldOutCount: 0,
      shards: [],
      reduce: { state: 'unknown', attemptsMade: 0 },
      timings: {},
      startedAt: prepare.processedOn ? new Date(prepare.processedOn).toISOString() : undefined,
      finishedAt: summary.state === 'failed' && prepare.finishedOn ? new Date(prepare.finishedOn).toISOString() : undefined,
    };
  }

  private async preparingSummary(prepare: Job): Promise<TrainingRunSummary> {
    const data = parseContract(prepareTrainingJob, prepare.data, `job ${prepare.id}`);
    const jobState = await prepare.getState();
    const cancelled = (await this.redis.exists(cancelKey(this.queuePrefix, data.runId))) === 1;
    // Completed means the flow is queued, and status() and list() report the flow instead; only a race with its removal gets here.
    const state: RunState = cancelled ? 'cancelled' : jobState === 'failed' ? 'failed' : jobState === 'completed' ? 'queued' : 'preparing';
    const error = state === 'failed' ? `archive ${data.archive.name}: ${prepare.failedReason}` : state === 'cancelled' ? 'cancelled' : undefined;
    return {
      runId: data.runId,
      category: data.request.category,
      version: versionFor(data.runId, new Date(data.createdAt)),
      state,
      createdAt: data.createdAt,
      error,
    };
  }

  /**
   * The most recent runs, newest first, without per-shard detail (GET /v1/trainings/:id has it): the
   * newest `limit` entries of the run index, not every kept job. A run is its flow once that is queued,
   * before that (or when unpacking its archive failed) its PrepareTraining job. Entries whose jobs are
   * gone (removed by BullMQ's retention) are dropped from the index as they are met.
   */
  async list(limit: number): Promise<TrainingRunSummary[]> {
    const recent = await this.index.newest(
      limit,
      async (runId) =>
        (await this.reduceQueue.getJob(fitGaussian.jobId({ runId }))) ?? (await this.reduceQueue.getJob(prepareTraining.jobId({ runId }))) ?? null,
    );
    return Promise.all(
      recent.map(async (job) => {
        if (job.name === JobName.PrepareTraining) return this.preparingSummary(job);
        const data = parseContract(fitGaussianJob, job.data, `job ${job.id}`);
        const jobState = await job.getState();
        const cancelled = (await this.redis.exists(cancelKey(this.queuePrefix, data.runId))) === 1;
        const state: RunState =
          jobState === 'completed' ? 'completed' : cancelled ? 'cancelled' : jobState === 'failed' ? 'failed' : jobState === 'active' ? 'running' : 'queued';
        return {
          runId: data.runId,
          category: data.category,
          version: data.version,
          state,
          createdAt: data.createdAt,
          error: jobState === 'failed' ? job.failedReason : undefined,
        };
      }),
    );
  }

  /**
   * Marks the run cancelled. Workers stop its jobs at their next batch and remove what the run wrote;
   * a run that already completed is not undone (its model stays).
   */
  async cancel(runId: string): Promise<TrainingStatus | null> {
    const current = await this.status(runId);
    if (!current) return null;
    if (current.state === 'completed' || current.state === 'failed') return current;
    await this.redis.set(cancelKey(this.queuePrefix, runId), '1', 'EX', RUN_MARK_TTL_SECONDS);
    return this.status(runId);
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), this.extractQueue.close(), this.reduceQueue.close()]);
  }
}

function shardStatus(job: Job | undefined, state: JobState, shard: number): ShardStatus {
  if (!job) return { shard, state: 'unknown', imagesDone: 0, imagesTotal: 0, attemptsMade: 0 };
  const data = job.data as ExtractFeaturesJob;
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<ExtractProgress>;
  const result = job.returnvalue as ExtractFeaturesResult | null;
  return {
    shard,
    state,
    imagesDone: state === 'completed' ? data.imageCount : (progress.imagesDone ?? 0),
    imagesTotal: data.imageCount,
    attemptsMade: job.attemptsMade,
    error: state === 'failed' ? job.failedReason : result?.skipped.length ? `${result.skipped.length} images skipped` : undefined,
  };
}
