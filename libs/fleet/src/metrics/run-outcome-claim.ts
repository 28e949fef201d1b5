import type { Redis } from 'ioredis';
import { RUN_MARK_TTL_SECONDS } from '../training-runs';

/** Redis key set by the first worker to report how a training run or a batch scoring ended. */
export const runOutcomeKey = (queuePrefix: string, id: string) => `${queuePrefix}:run-outcome:${id}`;

/**
 * Whether this caller is the first to report the end of run (or scoring) `id`. Several jobs of one run
 * can fail for good (each shard of a cancelled run does), on several workers: only the first counts the
 * run, so that the counters summed over workers count every run once.
 */
export async function claimRunOutcome(redis: Redis, queuePrefix: string, id: string): Promise<boolean> {
  return (await redis.set(runOutcomeKey(queuePrefix, id), '1', 'EX', RUN_MARK_TTL_SECONDS, 'NX')) === 'OK';
}
