/**
 * The registry locks: the in-process one, and the Redis one that the fleet's processes share (real
 * Redis, a key prefix of the test's own).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { RedisRegistryLock, createRedis, registryLockKey } from '@padim-fleet/fleet';
import { InProcessRegistryLock, ModelRegistryBusyError, type RegistryLock } from '@padim-fleet/storage';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

/** One section of `ms` per lock in `locks`, all started at once; returns the [start, end] of each. */
async function sections(locks: RegistryLock[], category: string, ms: number): Promise<[number, number][]> {
  return Promise.all(
    locks.map((lock) =>
      lock.withLock(category, async (): Promise<[number, number]> => {
        const start = performance.now();
        await delay(ms);
        return [start, performance.now()];
      }),
    ),
  );
}

function overlaps(spans: [number, number][]): boolean {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  return sorted.some((span, i) => i > 0 && span[0] < sorted[i - 1][1]);
}

describe('InProcessRegistryLock', () => {
  it('runs the sections of one category one after another, of different categories side by side, and frees the lock when a section throws', async () => {
    const lock = new InProcessRegistryLock();
    expect(overlaps(await sections([lock, lock, lock], 'screw', 20))).toBe(false);
    const [a, b] = await Promise.all([sections([lock], 'screw', 50), sections([lock], 'bottle', 50)]);
    expect(overlaps([...a, ...b])).toBe(true);
    await expect(lock.withLock('screw', async () => Promise.reject(new Error('failed inside')))).rejects.toThrow('failed inside');
    await expect(lock.withLock('screw', async () => 'next')).resolves.toBe('next');
  });
});

describeWithRedis('RedisRegistryLock', () => {
  const redis = createRedis(redisTestUrl(), 'padim-test');
  const prefix = testName();

  afterAll(async () => {
    await redis.quit();
  });

  it('serialises holders in different instances (processes) and frees the lock after each', async () => {
    const locks = [0, 1, 2, 3].map(() => new RedisRegistryLock(redis, prefix));
    expect(overlaps(await sections(locks, 'screw', 30))).toBe(false);
    await expect(locks[0].withLock('screw', async () => Promise.reject(new Error('failed inside')))).rejects.toThrow('failed inside');
    expect(await redis.exists(registryLockKey(prefix, 'screw'))).toBe(0);
  });

  it('gives up after waitMs with ModelRegistryBusyError, and never releases a lock another holder took after its own expired', async () => {
    const slow = new RedisRegistryLock(redis, prefix, { ttlMs: 300 });
    const impatient = new RedisRegistryLock(redis, prefix, { waitMs: 50 });
    const held = slow.withLock('bottle', () => delay(600));
    await delay(20);
    await expect(impatient.withLock('bottle', async () => 'never')).rejects.toThrow(ModelRegistryBusyError);
    await expect(impatient.withLock('bottle', async () => 'never')).rejects.toThrow(/model category "bottle" is being changed by another writer/);
    // The slow holder's lock has expired by now; a new holder takes it and keeps it past the slow one's end.
    await delay(300);
    const next = new RedisRegistryLock(redis, prefix).withLock('bottle', async () => {
      await held;
      return redis.exists(registryLockKey(prefix, 'bottle'));
    });
    await expect(next).resolves.toBe(1);
  });
});
