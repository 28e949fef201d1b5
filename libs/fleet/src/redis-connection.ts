import IORedis, { Redis } from 'ioredis';

/**
 * A connection as BullMQ needs it: `maxRetriesPerRequest: null` so blocking commands wait out a Redis
 * restart instead of failing, and reconnection with a capped backoff.
 */
export function createRedis(url: string, name: string): Redis {
  return new IORedis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
}
