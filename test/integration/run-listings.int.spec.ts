import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobName, QueueName, TrainingPlan, trainingRequest, versionFor } from '@padim-fleet/contracts';
import { ScoringRuns, TrainingRuns, createRedis, createRequestRedis } from '@padim-fleet/fleet';
import { LocalBlobStore } from '@padim-fleet/storage';
import { pollUntil } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';
import { testName } from '../support/services';

/** Commands the server has run so far (scripts' inner commands included), from INFO commandstats. */
async function commandCounts(redis: PrivateRedis): Promise<Map<string, number>> {
  const info = String(await redis.command('INFO', 'commandstats'));
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

/** The commands that `work` made the server run, by name, and their total. */
async function commandsOf(redis: PrivateRedis, work: () => Promise<unknown>): Promise<{ total: number; hgetall: number }> {
  const before = await commandCounts(redis);
  await work();
  const after = await commandCounts(redis);
  let total = 0;
  for (const [name, calls] of after) if (name !== 'info') total += calls - (before.get(name) ?? 0);
  return { total, hgetall: (after.get('hgetall') ?? 0) - (before.get('hgetall') ?? 0) };
}

/**
 * Listing runs and reading a scoring's progress cost a bounded number of Redis commands, whatever the
 * number of runs kept or chunks in a scoring. A private Redis, so that the command counts are this
 * test's alone.
 */
describe('run listings and progress read from Redis in a few commands', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let scratch: string;
  let store: LocalBlobStore;
  const prefix = testName();

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = createRequestRedis(server.url, 'test');
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-listings-'));
    store = new LocalBlobStore(scratch);
  });

  afterAll(async () => {
    redis.disconnect();
    await server.kill();
    rmSync(scratch, { recursive: true, force: true });
  });

  function plan(createdAt: Date): TrainingPlan {
    const runId = randomUUID();
    return {
      runId,
      version: versionFor(runId, createdAt),
      createdAt: createdAt.toISOString(),
      request: trainingRequest.parse({ category: 'line', dataset: '/data/line' }),
      source: { kind: 'folder', root: '/data/line' },
      shards: [['/data/line/a.png', '/data/line/b.png']],
      heldOut: [],
    };
  }

  it('GET /v1/trainings reads the newest `limit` runs only, and skips runs whose jobs are gone', async () => {
    const runs = new TrainingRuns(redis, prefix, store, { attempts: 1, backoffMs: 1000 });
    try {
      const plans = Array.from({ length: 30 }, (_, i) => plan(new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
      for (const p of plans) await runs.submit(p);
      const newest = plans
        .slice(-3)
        .reverse()
        .map((p) => p.runId);

      let listed: { runId: string }[] = [];
      const cost = await commandsOf(server, async () => (listed = await runs.list(3)));
      expect(listed.map((r) => r.runId)).toEqual(newest);
      expect(cost.hgetall).toBeLessThanOrEqual(3);
      expect(cost.total).toBeLessThan(40);

      // BullMQ's retention removed the newest run's jobs: the listing goes on to the next ones.
      await redis.del(`${prefix}:${QueueName.Reduce}:${newest[0]}`);
      expect((await runs.list(3)).map((r) => r.runId)).toEqual([...newest.slice(1), plans[26].runId]);
    } finally {
      await runs.close();
    }
  });

  it('GET /v1/scorings reads the newest `limit` scorings only, and skips scorings whose jobs are gone', async () => {
    const scorings = new ScoringRuns(redis, `${prefix}-list`, { attempts: 1, backoffMs: 1000 });
    try {
      const ids = Array.from({ length: 12 }, () => randomUUID());
      for (const [i, scoringId] of ids.entries()) {
        await scorings.submit({
          scoringId,
          category: 'line',
          version: null,
          input: 's3://bucket/prefix/',
          chunkSize: 2,
          createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        });
      }
      const newest = ids.slice(-3).reverse();

      let listed: { scoringId: string; state: string }[] = [];
      const cost = await commandsOf(server, async () => (listed = await scorings.list(3)));
      expect(listed.map((s) => [s.scoringId, s.state])).toEqual(newest.map((id) => [id, 'preparing']));
      expect(cost.total).toBeLessThan(40);

      // BullMQ's retention removed the newest scoring's job: the listing goes on to the next ones.
      await redis.del(`${prefix}-list:${QueueName.Score}:${newest[0]}`);
      expect((await scorings.list(3)).map((s) => s.scoringId)).toEqual([...newest.slice(1), ids[8]]);
    } finally {
      await scorings.close();
    }
  });

  it('GET /v1/scorings/:id reads the progress of every chunk at once', async () => {
    const scorings = new ScoringRuns(redis, prefix, { attempts: 1, backoffMs: 1000 });
    const blocking = createRedis(server.url, 'test-worker');
    // A stand-in for the prepare job: it plans 40 chunks of 2 images (their jobs are not needed to read progress).
    const worker = new Worker(QueueName.Score, async (job) => (job.name === JobName.PrepareScoring ? { version: 'v1', images: 80, chunks: 40 } : null), {
      connection: blocking,
      prefix,
    });
    try {
      const scoringId = randomUUID();
      await scorings.submit({ scoringId, category: 'line', version: 'v1', input: 's3://bucket/prefix/', chunkSize: 2, createdAt: new Date().toISOString() });
      await pollUntil(
        () => scorings.queue.getJobState(scoringId),
        (s) => s === 'completed',
        10_000,
        'the prepare job',
      );
      await scorings.recordChunkProgress(scoringId, 0, 2);
      await scorings.recordChunkProgress(scoringId, 1, 1);
      await scorings.recordChunkFailure(scoringId, 2, 'store unavailable');

      let status: Awaited<ReturnType<ScoringRuns['status']>> = null;
      const cost = await commandsOf(server, async () => (status = await scorings.status(scoringId)));
      expect(status!.chunks).toHaveLength(40);
      expect(status!.chunks.slice(0, 4)).toEqual([
        { chunk: 0, state: 'completed', images: 2, attemptsMade: 0 },
        { chunk: 1, state: 'active', images: 2, attemptsMade: 0 },
        { chunk: 2, state: 'retrying', images: 2, attemptsMade: 1, error: 'store unavailable' },
        { chunk: 3, state: 'waiting', images: 2, attemptsMade: 0 },
      ]);
      expect([status!.state, status!.imagesDone]).toEqual(['running', 3]);
      expect(cost.hgetall).toBeLessThanOrEqual(3);
      expect(cost.total).toBeLessThan(30);
    } finally {
      await worker.close();
      blocking.disconnect();
      await scorings.close();
    }
  });
});
