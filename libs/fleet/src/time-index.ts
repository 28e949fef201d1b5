import type { Redis } from 'ioredis';

/** An entry of a time index: an id and when it was created (ISO 8601). */
export interface TimeIndexEntry {
  id: string;
  createdAt: string;
}

/**
 * A sorted set of ids scored by creation time (ms), keeping the newest `max`: the recent runs and scorings
 * are listed from it without reading every job BullMQ keeps. An entry is indexed before its job is queued
 * (it is listed while it waits), and the job is the truth: an entry whose job is gone is dropped when met.
 */
export class TimeIndex {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly max: number,
  ) {}

  /** Adds the entries and drops the oldest beyond `max`, in one transaction. */
  async add(entries: TimeIndexEntry[]): Promise<void> {
    const adding = this.redis.multi();
    for (const entry of entries) adding.zadd(this.key, Date.parse(entry.createdAt), entry.id);
    await adding.zremrangebyrank(this.key, 0, -this.max - 1).exec();
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.zrem(this.key, ...ids);
  }

  /**
   * Indexes the entry, then queues its job with `queue`; when that fails the entry is removed again (best
   * effort: Redis may be what failed) and the error is rethrown, so nothing is listed that was not queued.
   */
  async addThenQueue(entry: TimeIndexEntry, queue: () => Promise<unknown>): Promise<void> {
    await this.add([entry]);
    try {
      await queue();
    } catch (error) {
      await this.remove([entry.id]).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The newest `limit` entries as `read` gives them, newest first. An entry `read` finds gone (null: its
   * job removed by BullMQ's retention) is dropped from the index, and the next older ones are read instead.
   */
  async newest<T>(limit: number, read: (id: string) => Promise<T | null>): Promise<T[]> {
    const recent: T[] = [];
    for (let offset = 0; recent.length < limit;) {
      const ids = await this.redis.zrevrange(this.key, offset, offset + limit - recent.length - 1);
      if (ids.length === 0) break;
      const items = await Promise.all(ids.map(read));
      const gone = ids.filter((_, i) => items[i] === null);
      await this.remove(gone);
      recent.push(...items.filter((item): item is Awaited<T> => item !== null));
      offset += ids.length - gone.length;
    }
    return recent;
  }
}
