/** The time index of runs and scorings, against the real Redis, under a key of the test's own. */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { TimeIndex, createRequestRedis } from '@padim-fleet/fleet';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();

describeWithRedis('TimeIndex', () => {
  let redis: Redis;
  const keys: string[] = [];
  const newIndex = (max = 100) => {
    const key = `${testName()}:by-time`;
    keys.push(key);
    return new TimeIndex(redis, key, max);
  };

  beforeAll(async () => {
    redis = createRequestRedis(redisTestUrl(), 'padim-time-index-test');
    while (redis.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 20));
  });

  afterAll(async () => {
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('keeps the newest `max` entries, scored by creation time', async () => {
    const index = newIndex(3);
    await index.add([5, 1, 4].map((m) => ({ id: `e${m}`, createdAt: at(m) })));
    await index.add([2, 3].map((m) => ({ id: `e${m}`, createdAt: at(m) })));
    expect(await redis.zrange(index.key, 0, -1, 'WITHSCORES')).toEqual([
      'e3',
      String(Date.parse(at(3))),
      'e4',
      String(Date.parse(at(4))),
      'e5',
      String(Date.parse(at(5))),
    ]);
  });

  it('keeps an entry whose job was queued, and removes it again when queueing fails, with the error', async () => {
    const index = newIndex();
    await index.addThenQueue({ id: 'queued', createdAt: at(1) }, async () => 'job');
    const refused = new Error('queue refused');
    await expect(
      index.addThenQueue({ id: 'refused', createdAt: at(2) }, async () => {
        // The entry is there while the job is being queued.
        expect(await redis.zscore(index.key, 'refused')).not.toBeNull();
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(await redis.zrange(index.key, 0, -1)).toEqual(['queued']);
  });

  it('lists the newest `limit` entries newest first, dropping those whose jobs are gone and reading older ones instead', async () => {
    const index = newIndex();
    await index.add(Array.from({ length: 8 }, (_, m) => ({ id: `e${m}`, createdAt: at(m) })));
    const gone = new Set(['e7', 'e5', 'e4']);
    const read: string[] = [];
    const listed = await index.newest(3, async (id) => {
      read.push(id);
      return gone.has(id) ? null : { id };
    });
    expect(listed).toEqual([{ id: 'e6' }, { id: 'e3' }, { id: 'e2' }]);
    // Only what the listing needed was read: the newest 3, then as many older ones as were gone.
    expect(read).toEqual(['e7', 'e6', 'e5', 'e4', 'e3', 'e2']);
    expect(await redis.zrevrange(index.key, 0, -1)).toEqual(['e6', 'e3', 'e2', 'e1', 'e0']);
    expect(await index.newest(10, async (id) => id)).toEqual(['e6', 'e3', 'e2', 'e1', 'e0']);
    expect(await newIndex().newest(5, async (id) => id)).toEqual([]);
  });
});
