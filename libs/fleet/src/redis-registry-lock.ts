import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ModelRegistryBusyError, type RegistryLock } from '@padim-fleet/storage';

/** Redis key of a category's registry lock. */
export const registryLockKey = (queuePrefix: string, category: string) => `${queuePrefix}:registry-lock:${category}`;

/** Deletes the lock only while it still holds this holder's token (an expired lock may be someone else's now). */
const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface RedisRegistryLockOptions {
  /** How long a holder may keep the lock before it expires (a crashed holder frees it then). */
  ttlMs?: number;
  /** How long a caller waits for the lock before ModelRegistryBusyError. */
  waitMs?: number;
}

/**
 * The registry lock shared by every API and worker process of a fleet: `SET key token NX PX ttl`,
 * released by token. What it guards is a few store requests (read current.json, check a manifest,
 * write one small object), far below the expiry.
 */
export class RedisRegistryLock implements RegistryLock {
  private readonly ttlMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    opts: RedisRegistryLockOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 10_000;
  }

  async withLock<T>(category: string, fn: () => Promise<T>): Promise<T> {
    const key = registryLockKey(this.queuePrefix, category);
    const token = randomUUID();
    const deadline = Date.now() + this.waitMs;
    while ((await this.redis.set(key, token, 'PX', this.ttlMs, 'NX')) !== 'OK') {
      if (Date.now() >= deadline) throw new ModelRegistryBusyError(category, this.waitMs);
      await delay(5 + Math.random() * 20);
    }
    try {
      return await fn();
    } finally {
      // A release that fails (Redis gone) leaves the lock to expire.
      await this.redis.eval(RELEASE_SCRIPT, 1, key, token).catch(() => undefined);
    }
  }
}
