import { FlowProducer, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AssembleScoringJob,
  FINISHED_JOB_RETENTION,
  JobName,
  PrepareScoringJob,
  QueueName,
  RetryPolicy,
  TRANSIENT_JOB_RETENTION,
  ScoreChunkJob,
  ScoreImagesJob,
  ScoringPlan,
  ScoringStatus,
  assembleScoring,
  assembleScoringJob,
  jobOptions,
  parseContract,
  prepareScoring,
  prepareScoringJob,
  scoreChunk,
  scoreImages,
  scoringPlan,
} from '@padim-fleet/contracts';
import { BlobStore, SCORING_OUTPUTS, onlineOutputPrefix, scoringPlanKey, scoringPrefix, uploadPrefix } from '@padim-fleet/storage';
import { blockingRedisOf } from './redis-connection';
import { TimeIndex } from './time-index';

/**
 * Removes what an online request stored: its uploaded images first, then its PNGs. A worker still scoring
 * the request when this runs finds its images gone once it is done, and removes the PNGs it wrote itself
 * (scoreImagesHandler), so nothing stays whichever of the two ends last.
 */
export async function removeOnlineRequest(store: BlobStore, requestId: string): Promise<void> {
  await store.deletePrefix(uploadPrefix(requestId));
  await store.deletePrefix(onlineOutputPrefix(requestId));
}

/** Waits between attempts of a clean-up in the store, so a store out for a minute does not leave objects behind. */
const CLEAN_UP_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 32000];

/**
 * Runs a clean-up in the store, retrying for about a minute while the store is unreachable. Resolves
 * false when every attempt failed (the sweep of old objects takes what is left); never rejects.
 */
export async function cleanUpWithRetries(cleanUp: () => Promise<unknown>, delaysMs: readonly number[] = CLEAN_UP_RETRY_DELAYS_MS): Promise<boolean> {
  for (const delay of [...delaysMs, null]) {
    try {
      await cleanUp();
      return true;
    } catch {
      if (delay === null) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  return false;
}

/**
 * The end of job `jobId` as `events` reports it: its return value, or its failure as an Error. Listening
 * starts here, so a job queued after this call cannot finish unseen, even one removed as it completes.
 */
export function waitForJobEnd(events: QueueEvents, jobId: string): { result: Promise<unknown>; stop: () => void } {
  let stop = () => undefined as void;
  const result = new Promise<unknown>((resolve, reject) => {
    const onCompleted = (args: { returnvalue: unknown }) => {
      stop();
      resolve(args.returnvalue);
    };
    const onFailed = (args: { failedReason: string }) => {
      stop();
      reject(new Error(args.failedReason));
    };
    // QueueEvents emits `<event>:<jobId>` with the arguments of `<event>`; its typings name only the latter.
    const completed = `completed:${jobId}` as 'completed';
    const failed = `failed:${jobId}` as 'failed';
    events.on(completed, onCompleted);
    events.on(failed, onFailed);
    stop = () => {
      events.removeListener(completed, onCompleted);
      events.removeListener(failed, onFailed);
    };
  });
  // Awaited by the caller in a race; a failure after it gave up must not count as unhandled.
  result.catch(() => undefined);
  return { result, stop };
}

/** No score worker answered an online request within its time-out. */
export class ScoreTimeoutError extends Error {
  override name = 'ScoreTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no score worker answered within ${timeoutMs} ms`);
  }
}

/** A scoring input with more files than SCORING_MAX_INPUTS: retrying will not make it fewer. */
export class TooManyInputsError extends Error {
  override name = 'TooManyInputsError';
}

/**
 * The objects under a scoring's input prefix, as (file relative to the prefix, key); listing stops at
 * `maxInputs` + 1 with an error naming the input and SCORING_MAX_INPUTS.
 */
export async function listScoringInputs(store: BlobStore, prefix: string, input: string, maxInputs: number): Promise<{ file: string; key: string }[]> {
  const items: { file: string; key: string }[] = [];
  for await (const info of store.list(prefix)) {
    if (items.length === maxInputs) throw new TooManyInputsError(`input ${input}: more than ${maxInputs} files (SCORING_MAX_INPUTS)`);
    items.push({ file: info.key.slice(prefix.length), key: info.key });
  }
  return items;
}

export async function readScoringPlan(store: BlobStore, scoringId: string): Promise<ScoringPlan> {
  return parseContract(scoringPlan, JSON.parse((await store.get(scoringPlanKey(scoringId))).toString('utf8')), `scoring plan ${scoringId}`);
}

/**
 * Hash of a batch scoring's progress, kept by its chunk jobs: field `<chunk>` is the images done,
 * `failures:<chunk>` the failed attempts and `error:<chunk>` the last error of that chunk.
 */
export const scoringProgressKey = (queuePrefix: string, scoringId: string) => `${queuePrefix}:scoring-progress:${scoringId}`;
/** Sorted set of batch scoring ids scored by creation time (ms): GET /v1/scorings reads its newest entries only. */
export const scoringIndexKey = (queuePrefix: string) => `${queuePrefix}:scorings-by-time`;
/** The index keeps the newest this many scorings (a listing shows at most 1000). */
export const SCORING_INDEX_MAX = 10_000;
/** As long as BullMQ keeps a failed job: the progress outlives no job it describes by much. */
const SCORING_PROGRESS_TTL_SECONDS = FINISHED_JOB_RETENTION.removeOnFail.age;

/** Queues online scoring requests and batch scorings, and reads their state back from the jobs. */
export class ScoringRuns {
  private readonly flows: FlowProducer;
  readonly queue: Queue;
  private events: QueueEvents | null = null;
  private eventsRedis: Redis | null = null;
  private readonly index: TimeIndex;

  constructor(
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly retry: RetryPolicy,
  ) {
    this.flows = new FlowProducer({ connection: redis, prefix: queuePrefix });
    this.queue = new Queue(QueueName.Score, { connection: redis, prefix: queuePrefix });
    this.index = new TimeIndex(redis, scoringIndexKey(queuePrefix), SCORING_INDEX_MAX);
  }

  /**
   * Online scoring: queue the request and wait for its result. Past `timeoutMs` it throws ScoreTimeoutError;
   * the caller then removes what the request stored (removeOnlineRequest), which tells a worker that took
   * the job late that nobody waits for its answer. The result (with inline PNGs, megabytes) comes with the
   * job's completion event, and the job leaves Redis as it completes (TRANSIENT_JOB_RETENTION), so the
   * wait listens for that event from before the job is queued.
   */
  async scoreNow(data: ScoreImagesJob, timeoutMs: number): Promise<unknown> {
    if (!this.events) {
      this.eventsRedis = blockingRedisOf(this.redis, 'padim-score-events');
      this.events = new QueueEvents(QueueName.Score, { connection: this.eventsRedis, prefix: this.queuePrefix });
    }
    await this.events.waitUntilReady();
    const jobId = scoreImages.jobId(data);
    const started = Date.now();
    const finished = waitForJobEnd(this.events, jobId);
    // Redis going away ends the wait at once (a 503 to retry), rather than at the time-out.
    let onClose = () => undefined as void;
    const connectionLost = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('Connection is closed: redis went away while the request waited for a score worker'));
      this.redis.once('close', onClose);
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ScoreTimeoutError(timeoutMs)), timeoutMs);
    });
    // Either may reject while the job is being queued, before the race below awaits it: not unhandled.
    connectionLost.catch(() => undefined);
    timedOut.catch(() => undefined);
    try {
      await this.queue.add(JobName.ScoreImages, data, { jobId, attempts: 2, backoff: { type: 'fixed', delay: 200 }, ...TRANSIENT_JOB_RETENTION });
      return await Promise.race([finished.result, connectionLost, timedOut]);
    } catch (error) {
      // A failure of the job itself comes before the time-out.
      if (error instanceof ScoreTimeoutError || Date.now() - started >= timeoutMs) throw new ScoreTimeoutError(timeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
      finished.stop();
      this.redis.removeListener('close', onClose);
      // Removes a job no worker has taken yet (timed out); one a worker holds completes and removes itself.
      await this.queue.remove(jobId).catch(() => undefined);
    }
  }

  /** Indexes the scoring, then queues its PrepareScoring job; when that fails the index entry goes too. */
  async submit(data: PrepareScoringJob): Promise<void> {
    await this.index.addThenQueue({ id: data.scoringId, createdAt: data.createdAt }, () =>
      this.queue.add(JobName.PrepareScoring, data, { ...jobOptions(this.retry), jobId: prepareScoring.jobId(data) }),
    );
  }

  /**
   * The most recent batch scorings, newest first, each with its status: the newest `limit` entries of the
   * index. Entries whose jobs are gone (removed by BullMQ's retention) are dropped from the index as they are met.
   */
  async list(limit: number): Promise<ScoringStatus[]> {
    return this.index.newest(limit, (scoringId) => this.status(scoringId));
  }

  /** Called by the prepare job once the plan is written: one ScoreChunk per chunk under an AssembleScoring parent. */
  async addFlow(plan: ScoringPlan): Promise<void> {
    const options = jobOptions(this.retry);
    const parent: AssembleScoringJob = {
      scoringId: plan.scoringId,
      chunkCount: plan.chunks.length,
      category: plan.category,
      version: plan.version,
      ...(plan.callbackUrl !== undefined ? { callbackUrl: plan.callbackUrl } : {}),
    };
    await this.flows.add({
      name: JobName.AssembleScoring,
      queueName: QueueName.Score,
      data: parent,
      opts: { ...options, jobId: assembleScoring.jobId(parent) },
      children: plan.chunks.map((items, chunk) => {
        const data: ScoreChunkJob = { scoringId: plan.scoringId, chunk, imageCount: items.length };
        return { name: JobName.ScoreChunk, queueName: QueueName.Score, data, opts: { ...options, jobId: scoreChunk.jobId(data), failParentOnFailure: true } };
      }),
    });
  }

  /** The payload of a scoring's AssembleScoring job (its category, version and callbackUrl), or null before its flow is queued. */
  async flowParent(scoringId: string): Promise<AssembleScoringJob | null> {
    const parent = await this.queue.getJob(assembleScoring.jobId({ scoringId }));
    return parent ? parseContract(assembleScoringJob, parent.data, `job ${parent.id}`) : null;
  }

  async status(scoringId: string): Promise<ScoringStatus | null> {
    // Each job's state is read before the job itself, so a finished state always comes with its finished job (return value).
    const prepareState = await this.queue.getJobState(prepareScoring.jobId({ scoringId }));
    const prepare = await this.queue.getJob(prepareScoring.jobId({ scoringId }));
    if (!prepare) return null;
    const request = parseContract(prepareScoringJob, prepare.data, `job ${scoringId}`);
    const base = { scoringId, category: request.category, createdAt: request.createdAt };
    if (prepareState !== 'completed') {
      const failed = prepareState === 'failed';
      return {
        ...base,
        version: request.version,
        state: failed ? 'failed' : 'preparing',
        images: 0,
        imagesDone: 0,
        chunks: [],
        error: failed ? prepare.failedReason : undefined,
      };
    }
    const prepared = prepare.returnvalue as { version: string; images: number; chunks: number };
    const parentState = await this.queue.getJobState(assembleScoring.jobId({ scoringId }));
    const parent = await this.queue.getJob(assembleScoring.jobId({ scoringId }));
    // One read for every chunk's progress, whatever their number (the chunk jobs keep the hash).
    const progress = await this.redis.hgetall(scoringProgressKey(this.queuePrefix, scoringId));
    const chunks = Array.from({ length: prepared.chunks }, (_, chunk) =>
      chunkStatus(chunk, contiguousSliceLength(prepared.images, prepared.chunks, chunk), progress, parentState),
    );
    const failedChunk = chunks.find((c) => c.state === 'failed');
    const state: ScoringStatus['state'] =
      parentState === 'completed'
        ? 'completed'
        : parentState === 'failed' || failedChunk
          ? 'failed'
          : chunks.some((c) => c.state !== 'waiting')
            ? 'running'
            : 'queued';
    const summary = parent?.returnvalue as ScoringStatus['summary'] | null;
    const prefix = scoringPrefix(scoringId);
    return {
      ...base,
      version: prepared.version,
      state,
      images: prepared.images,
      imagesDone: chunks.reduce((a, c) => a + c.done, 0),
      chunks: chunks.map(({ done: _done, ...c }) => c),
      outputs:
        state === 'completed'
          ? {
              resultsCsv: prefix + SCORING_OUTPUTS.resultsCsv,
              resultsJsonl: prefix + SCORING_OUTPUTS.resultsJsonl,
              summary: prefix + SCORING_OUTPUTS.summary,
              heatmaps: prefix + SCORING_OUTPUTS.heatmaps,
              masks: prefix + SCORING_OUTPUTS.masks,
            }
          : undefined,
      summary: state === 'completed' && summary ? summary : undefined,
      error: state === 'failed' ? (failedChunk ? `chunk ${failedChunk.chunk}: ${failedChunk.error}` : parent?.failedReason) : undefined,
    };
  }

  /** Called by a chunk job as it scores: how many of its images are done. */
  async recordChunkProgress(scoringId: string, chunk: number, imagesDone: number): Promise<void> {
    const key = scoringProgressKey(this.queuePrefix, scoringId);
    await this.redis.multi().hset(key, String(chunk), imagesDone).expire(key, SCORING_PROGRESS_TTL_SECONDS).exec();
  }

  /** Called by a chunk job whose attempt failed (it may be retried). */
  async recordChunkFailure(scoringId: string, chunk: number, message: string): Promise<void> {
    const key = scoringProgressKey(this.queuePrefix, scoringId);
    await this.redis
      .multi()
      .hincrby(key, `failures:${chunk}`, 1)
      .hset(key, `error:${chunk}`, message.slice(0, 1000))
      .expire(key, SCORING_PROGRESS_TTL_SECONDS)
      .exec();
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), this.queue.close(), this.events?.close()]);
    // BullMQ leaves a connection it was given open; this one is the events reader's own.
    this.eventsRedis?.disconnect();
  }
}

/** Images in slice `i` of `n` near-equal contiguous slices of `total` items, as `splitContiguous` cuts them. */
export function contiguousSliceLength(total: number, n: number, i: number): number {
  return Math.floor(((i + 1) * total) / n) - Math.floor((i * total) / n);
}

function chunkStatus(chunk: number, images: number, progress: Record<string, string>, parentState: string) {
  const error = progress[`error:${chunk}`];
  const attemptsMade = Number(progress[`failures:${chunk}`] ?? 0);
  const done = parentState === 'completed' ? images : Math.min(images, Number(progress[String(chunk)] ?? 0));
  // An attempt starts its count from 0: a chunk with an error and nothing done waits for its retry.
  const state =
    done === images
      ? 'completed'
      : error !== undefined && parentState === 'failed'
        ? 'failed'
        : done > 0
          ? 'active'
          : error !== undefined
            ? 'retrying'
            : 'waiting';
  return { chunk, state, images, attemptsMade, error: state === 'failed' || state === 'retrying' ? error : undefined, done };
}
