import { FlowProducer, Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AssembleScoringJob,
  JobName,
  PrepareScoringJob,
  QueueName,
  RetryPolicy,
  ScoreChunkJob,
  ScoreImagesJob,
  ScoringPlan,
  ScoringStatus,
  assembleScoring,
  jobOptions,
  parseContract,
  prepareScoring,
  prepareScoringJob,
  scoreChunk,
  scoringPlan,
} from '@padim-fleet/contracts';
import type { BlobStore } from '@padim-fleet/storage';
import { blockingRedisOf } from './redis-connection';

export const scoringPrefix = (scoringId: string) => `scorings/${scoringId}/`;
export const scoringPlanKey = (scoringId: string) => `${scoringPrefix(scoringId)}plan.json`;
export const scoringChunkKey = (scoringId: string, chunk: number) => `${scoringPrefix(scoringId)}chunks/chunk-${String(chunk).padStart(5, '0')}.jsonl`;
export const scoringInputPrefix = (scoringId: string) => `${scoringPrefix(scoringId)}input/`;
/** An archive uploaded through the API, before it is unpacked. */
export const scoringUploadPrefix = (scoringId: string) => `${scoringPrefix(scoringId)}upload/`;
/** Uploaded images of an online request, and where its PNGs go. */
export const uploadPrefix = (requestId: string) => `uploads/${requestId}/`;
export const onlineOutputPrefix = (requestId: string) => `scores/${requestId}/`;

export const SCORING_OUTPUTS = { resultsCsv: 'results.csv', resultsJsonl: 'results.jsonl', summary: 'summary.json', heatmaps: 'heatmaps/', masks: 'masks/' } as const;

export interface ChunkProgress {
  imagesDone: number;
  imagesTotal: number;
}

export async function readScoringPlan(store: BlobStore, scoringId: string): Promise<ScoringPlan> {
  return parseContract(scoringPlan, JSON.parse((await store.get(scoringPlanKey(scoringId))).toString('utf8')), `scoring plan ${scoringId}`);
}

/** Queues online scoring requests and batch scorings, and reads their state back from the jobs. */
export class ScoringRuns {
  private readonly flows: FlowProducer;
  readonly queue: Queue;
  private events: QueueEvents | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly retry: RetryPolicy,
  ) {
    this.flows = new FlowProducer({ connection: redis, prefix: queuePrefix });
    this.queue = new Queue(QueueName.Score, { connection: redis, prefix: queuePrefix });
  }

  /** Online scoring: queue the request and wait for its result (or time out). */
  async scoreNow(data: ScoreImagesJob, timeoutMs: number): Promise<unknown> {
    this.events ??= new QueueEvents(QueueName.Score, { connection: blockingRedisOf(this.redis, 'padim-score-events'), prefix: this.queuePrefix });
    await this.events.waitUntilReady();
    const job = await this.queue.add(JobName.ScoreImages, data, { jobId: data.requestId, attempts: 2, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } });
    return job.waitUntilFinished(this.events, timeoutMs);
  }

  async submit(data: PrepareScoringJob): Promise<void> {
    await this.queue.add(JobName.PrepareScoring, data, { ...jobOptions(this.retry), jobId: prepareScoring.jobId(data) });
  }

  /** Called by the prepare job once the plan is written: one ScoreChunk per chunk under an AssembleScoring parent. */
  async addFlow(plan: ScoringPlan): Promise<void> {
    const options = jobOptions(this.retry);
    const parent: AssembleScoringJob = { scoringId: plan.scoringId, chunkCount: plan.chunks.length, category: plan.category, version: plan.version };
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

  async status(scoringId: string): Promise<ScoringStatus | null> {
    const prepare = await this.queue.getJob(scoringId);
    if (!prepare) return null;
    const request = parseContract(prepareScoringJob, prepare.data, `job ${scoringId}`);
    const prepareState = await prepare.getState();
    const base = { scoringId, category: request.category, createdAt: request.createdAt };
    if (prepareState !== 'completed') {
      const failed = prepareState === 'failed';
      return { ...base, version: request.version, state: failed ? 'failed' : 'preparing', images: 0, imagesDone: 0, chunks: [], error: failed ? prepare.failedReason : undefined };
    }
    const prepared = prepare.returnvalue as { version: string; images: number; chunks: number };
    const parent = await this.queue.getJob(`${scoringId}-assemble`);
    const chunkJobs = await Promise.all(Array.from({ length: prepared.chunks }, (_, chunk) => this.queue.getJob(`${scoringId}-chunk-${chunk}`)));
    const chunks = await Promise.all(chunkJobs.map((job, chunk) => chunkStatus(job, chunk)));
    const parentState = parent ? await parent.getState() : 'unknown';
    const failedChunk = chunks.find((c) => c.state === 'failed');
    const state: ScoringStatus['state'] =
      parentState === 'completed' ? 'completed' : parentState === 'failed' || failedChunk ? 'failed' : chunks.some((c) => c.state !== 'waiting') ? 'running' : 'queued';
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

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), this.queue.close(), this.events?.close()]);
  }
}

async function chunkStatus(job: Job | undefined, chunk: number) {
  if (!job) return { chunk, state: 'unknown', images: 0, attemptsMade: 0, done: 0 };
  const data = job.data as ScoreChunkJob;
  const state = await job.getState();
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<ChunkProgress>;
  return {
    chunk,
    state,
    images: data.imageCount,
    attemptsMade: job.attemptsMade,
    error: state === 'failed' ? job.failedReason : undefined,
    done: state === 'completed' ? data.imageCount : (progress.imagesDone ?? 0),
  };
}
