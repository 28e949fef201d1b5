import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobName, QueueName, TRANSIENT_JOB_RETENTION, jobOptions, sweepOnlineResults } from '@padim-fleet/contracts';
import { ScoringRuns, createRedis, createRequestRedis } from '@padim-fleet/fleet';
import { pollUntil } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';
import { testName } from '../support/services';

const HOUR_MS = 3600_000;

/**
 * BullMQ applies a finishing job's age or count rule to its queue's whole completed (or failed) list.
 * The fleet's jobs of every kind share their queues (online requests and hourly sweeps beside batch
 * scorings in `score`, the stale-write sweep beside the reducers in `reduce`), so none of them may remove
 * the others' records: a batch scoring finished two hours ago, and a dozen of them, stay queryable after
 * an online request and a sweep complete in the same queue.
 */
describe('job retention: no job removes the records of another', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let blocking: Redis;
  let scorings: ScoringRuns;
  let worker: Worker;
  const prefix = testName();

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = createRequestRedis(server.url, 'test');
    // A request connection queues nothing while it connects.
    if (redis.status !== 'ready') await once(redis, 'ready');
    blocking = createRedis(server.url, 'test-worker');
    scorings = new ScoringRuns(redis, prefix, { attempts: 1, backoffMs: 1000 });
    // Stand-ins for the score worker's jobs: a prepare that plans one chunk, an online answer, a sweep.
    worker = new Worker(
      QueueName.Score,
      async (job) => {
        if (job.name === JobName.PrepareScoring) {
          if (job.data.category === 'broken') throw new Error('unreadable input');
          return { version: 'v1', images: 2, chunks: 1 };
        }
        if (job.name === JobName.ScoreImages) {
          if (job.data.category === 'gone') throw new Error('no model for gone');
          return { category: 'line', version: 'v1', results: [{ file: job.data.images[0].name, score: 1.5 }] };
        }
        return { removed: 0 };
      },
      { connection: blocking, prefix },
    );
  });

  afterAll(async () => {
    await worker.close();
    await scorings.close();
    blocking.disconnect();
    redis.disconnect();
    await server.kill();
  });

  async function completedScoring(finishedHoursAgo: number): Promise<string> {
    const scoringId = randomUUID();
    await scorings.submit({ scoringId, category: 'line', version: 'v1', input: 's3://bucket/prefix/', chunkSize: 2, createdAt: new Date().toISOString() });
    await pollUntil(
      () => scorings.queue.getJobState(scoringId),
      (s) => s === 'completed',
      10_000,
      `the prepare job of ${scoringId}`,
    );
    // The completed list is scored by finishing time, which BullMQ's age rule reads.
    await redis.zadd(`${prefix}:${QueueName.Score}:completed`, Date.now() - finishedHoursAgo * HOUR_MS, scoringId);
    return scoringId;
  }

  it('keeps batch scorings through online requests and the hourly sweep in their queue', async () => {
    const old = await completedScoring(2);
    const recent: string[] = [];
    for (let i = 0; i < 11; i++) recent.push(await completedScoring(0));

    // An online request completes in the same queue: its answer comes back, and its job is gone.
    const requestId = randomUUID();
    const answer = await scorings.scoreNow(
      { requestId, category: 'line', version: null, images: [{ key: `uploads/${requestId}/a.png`, name: 'a.png' }], inline: false },
      10_000,
    );
    expect(answer).toEqual({ category: 'line', version: 'v1', results: [{ file: 'a.png', score: 1.5 }] });
    expect(await scorings.queue.getJob(requestId)).toBeUndefined();

    // The hourly sweep completes there too, with the options its scheduler gives it.
    await scorings.queue.add(JobName.SweepOnlineResults, {}, { jobId: sweepOnlineResults.jobId(), ...TRANSIENT_JOB_RETENTION });
    await pollUntil(
      async () => (await scorings.queue.getJobCounts('completed', 'waiting', 'active')) as Record<string, number>,
      (c) => c.waiting === 0 && c.active === 0,
      10_000,
      'the sweep',
    );
    expect(await scorings.queue.getJob(sweepOnlineResults.jobId())).toBeUndefined();

    for (const scoringId of [old, ...recent]) expect((await scorings.status(scoringId))?.scoringId).toBe(scoringId);
    expect((await scorings.list(20)).map((s) => s.scoringId).sort()).toEqual([old, ...recent].sort());
  });

  it('keeps a failed batch scoring through a failed online request, whose waiter hears the reason', async () => {
    const scoringId = randomUUID();
    await scorings.submit({ scoringId, category: 'broken', version: 'v1', input: 's3://bucket/prefix/', chunkSize: 2, createdAt: new Date().toISOString() });
    await pollUntil(
      () => scorings.queue.getJobState(scoringId),
      (s) => s === 'failed',
      10_000,
      `the prepare job of ${scoringId}`,
    );
    await redis.zadd(`${prefix}:${QueueName.Score}:failed`, Date.now() - 48 * HOUR_MS, scoringId);

    const requestId = randomUUID();
    await expect(
      scorings.scoreNow({ requestId, category: 'gone', version: null, images: [{ key: `uploads/${requestId}/a.png`, name: 'a.png' }], inline: false }, 10_000),
    ).rejects.toThrow('no model for gone');
    expect(await scorings.status(scoringId)).toMatchObject({ scoringId, state: 'failed', error: 'unreadable input' });
  });

  it('keeps training runs in the reduce queue through the stale-write sweep', async () => {
    const reduceQueue = new Queue(QueueName.Reduce, { connection: redis, prefix });
    const reducerRedis = createRedis(server.url, 'test-reducer');
    const reducer = new Worker(QueueName.Reduce, async () => ({ done: true }), { connection: reducerRedis, prefix });
    try {
      // Twelve finished reduce jobs, as twelve runs leave, then the sweep with its scheduler's options.
      const ids = Array.from({ length: 12 }, () => randomUUID());
      for (const id of ids) await reduceQueue.add(JobName.FitGaussian, { runId: id }, { jobId: id, ...jobOptions({ attempts: 1, backoffMs: 1000 }) });
      await reduceQueue.add(JobName.AbortStaleWrites, {}, { ...TRANSIENT_JOB_RETENTION });
      await pollUntil(
        async () => (await reduceQueue.getJobCounts('waiting', 'active')) as Record<string, number>,
        (c) => c.waiting === 0 && c.active === 0,
        10_000,
        'the reduce jobs and the sweep',
      );
      for (const id of ids) expect(await reduceQueue.getJobState(id)).toBe('completed');
    } finally {
      await reducer.close();
      await reduceQueue.close();
      reducerRedis.disconnect();
    }
  });
});
