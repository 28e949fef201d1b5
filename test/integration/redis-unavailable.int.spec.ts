/**
 * What ioredis throws when Redis goes away under a request, produced against a redis-server of the test's
 * own: each must read as "Redis unavailable" (a 503 to retry), and a wrong command must not.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createRequestRedis, isRedisUnavailableError } from '@padim-fleet/fleet';
import { sleep } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: unknown) => error as Error,
  );

/** Waits until the connection is ready: without an offline queue, a command sent before fails. */
async function connected(redis: Redis): Promise<void> {
  while (redis.status !== 'ready') await sleep(20);
}

describe('isRedisUnavailableError on the errors of a real connection', () => {
  let server: PrivateRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = createRequestRedis(server.url, 'padim-unavailable-test');
    redis.on('error', () => undefined);
    await connected(redis);
  });

  afterAll(async () => {
    await redis?.quit();
    await server?.kill();
  });

  it('a wrong command is not Redis being unavailable', async () => {
    await redis.set('a-string', 'x');
    const error = await errorOf(redis.lpush('a-string', 'y'));
    expect(error?.message).toMatch(/^WRONGTYPE/);
    expect(isRedisUnavailableError(error)).toBe(false);
  });

  it('a pipeline cut part-way by a closed connection (ioredis AbortError)', async () => {
    // The first PING is answered; the BLPOP waits until the connection is killed, and what follows it is aborted.
    const pipeline = redis.pipeline().ping().blpop('nothing-here', 5).ping().exec();
    await sleep(200);
    await server.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const results = (await pipeline) ?? [];
    expect(results[0]).toEqual([null, 'PONG']);
    const aborted = results[2][0];
    expect(aborted).toMatchObject({ name: 'AbortError', message: 'Command aborted due to connection close' });
    expect(isRedisUnavailableError(aborted)).toBe(true);
    for (const [error] of results.slice(1)) expect(isRedisUnavailableError(error)).toBe(true);
    await connected(redis);
  });

  it('a command in flight when the server stops (MaxRetriesPerRequestError), and any command while it is down', async () => {
    const inFlight = errorOf(redis.blpop('nothing-here', 5));
    await sleep(200);
    await server.kill();
    const cut = await inFlight;
    expect(cut?.name).toBe('MaxRetriesPerRequestError');
    expect(cut?.message).toMatch(/^Reached the max retries per request limit/);
    expect(isRedisUnavailableError(cut)).toBe(true);
    const refused = await errorOf(redis.get('a-string'));
    expect(refused?.message).toMatch(/enableOfflineQueue options is false/);
    expect(isRedisUnavailableError(refused)).toBe(true);
    // Back up, the same connection serves again (and closes cleanly).
    await server.restart();
    await connected(redis);
    expect(await redis.ping()).toBe('PONG');
  });
});
