/**
 * Run outcomes are counted once in the fleet however many of a run's jobs report its end, on however
 * many workers (real Redis, a key prefix of the test's own).
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { JobName } from '@padim-fleet/contracts';
import { WorkerMetrics, createRedis, runOutcomeKey } from '@padim-fleet/fleet';
import { countRunEnd } from '../../apps/worker/src/job-metrics';
import { RunStoppedError } from '../../apps/worker/src/jobs/job-context';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

async function total(metrics: WorkerMetrics[], read: (m: WorkerMetrics) => Promise<number>): Promise<number> {
  return (await Promise.all(metrics.map(read))).reduce((a, b) => a + b, 0);
}

const trainingRuns = (outcome: string) => async (m: WorkerMetrics) => (await m.trainingRuns.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describeWithRedis('countRunEnd', () => {
  let redis: Redis;
  const prefix = testName();

  beforeAll(() => {
    redis = createRedis(redisTestUrl(), 'padim-test');
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('counts a cancelled run once when each of its shards, on two workers, stops for good', async () => {
    const workers = [new WorkerMetrics(), new WorkerMetrics()];
    const runId = 'c0ffee00-1111-4222-8333-444455556666';
    await Promise.all(
      [0, 1, 2, 3].map((shard) =>
        countRunEnd(
          workers[shard % 2],
          redis,
          prefix,
          { name: JobName.ExtractFeatures, data: { runId, shard } },
          {
            completed: false,
            final: true,
            error: new RunStoppedError(runId, 'cancelled'),
          },
        ),
      ),
    );
    expect(await total(workers, trainingRuns('cancelled'))).toBe(1);
    expect(await total(workers, trainingRuns('failed'))).toBe(0);
    expect(await redis.ttl(runOutcomeKey(prefix, runId))).toBeGreaterThan(0);
  });

  it('counts each run of its own, and leaves a retried attempt uncounted', async () => {
    const metrics = new WorkerMetrics();
    const fit = (runId: string) => ({ name: JobName.FitGaussian, data: { runId } });
    await countRunEnd(metrics, redis, prefix, fit('a0000000-0000-4000-8000-000000000001'), { completed: false, final: false, error: new Error('blip') });
    await countRunEnd(metrics, redis, prefix, fit('a0000000-0000-4000-8000-000000000001'), { completed: true, result: {} });
    await countRunEnd(metrics, redis, prefix, fit('a0000000-0000-4000-8000-000000000002'), { completed: true, result: {} });
    expect(await trainingRuns('succeeded')(metrics)).toBe(2);
    expect(await trainingRuns('failed')(metrics)).toBe(0);
  });

  it('counts every online request: each has one job', async () => {
    const metrics = new WorkerMetrics();
    const online = { name: JobName.ScoreImages, data: { requestId: 'r' } };
    await countRunEnd(metrics, redis, prefix, online, { completed: true, result: { results: [] } });
    await countRunEnd(metrics, redis, prefix, online, { completed: true, result: { results: [] } });
    await countRunEnd(metrics, redis, prefix, online, { completed: true, result: null });
    const scorings = (await metrics.scorings.get()).values.filter((v) => v.labels.kind === 'online').map((v) => [v.labels.outcome, v.value]);
    expect(scorings).toEqual(
      expect.arrayContaining([
        ['succeeded', 2],
        ['abandoned', 1],
        ['failed', 0],
      ]),
    );
  });
});
