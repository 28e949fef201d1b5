import type { z } from 'zod';
import { deliverCallback } from './deliver-callback.job';
import { extractFeatures } from './extract-features.job';
import { fitGaussian } from './fit-gaussian.job';
import { abortStaleWrites } from './maintenance.job';
import { prepareTraining } from './prepare-training.job';
import { scoreImages } from './score-images.job';
import { assembleScoring, prepareScoring, scoreChunk, sweepOnlineResults } from './scoring-jobs.job';
import { JobName, QueueName } from './queue-name';

export * from './deliver-callback.job';
export * from './extract-features.job';
export * from './fit-gaussian.job';
export * from './maintenance.job';
export * from './prepare-training.job';
export * from './queue-name';
export * from './score-images.job';
export * from './scoring-jobs.job';

/** Every job the fleet runs, by name: its queue, payload schema and id rule. */
export const JOBS = {
  [JobName.ExtractFeatures]: extractFeatures,
  [JobName.FitGaussian]: fitGaussian,
  [JobName.ScoreImages]: scoreImages,
  [JobName.PrepareScoring]: prepareScoring,
  [JobName.ScoreChunk]: scoreChunk,
  [JobName.AssembleScoring]: assembleScoring,
  [JobName.SweepOnlineResults]: sweepOnlineResults,
  [JobName.AbortStaleWrites]: abortStaleWrites,
  [JobName.PrepareTraining]: prepareTraining,
  [JobName.DeliverCallback]: deliverCallback,
} as const satisfies Record<JobName, { name: JobName; queue: QueueName; schema: z.ZodType; jobId: (data: never) => string }>;

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * How long finished jobs stay in Redis, for status queries: completed ones a week, failed ones 30 days.
 * BullMQ applies a finishing job's age or count rule to its queue's whole completed (or failed) set, not
 * to that job alone: one job with a shorter rule would remove the records of every other job in its
 * queue (a batch scoring's, a training run's) along with its own. So every job of the fleet finishes
 * with these rules, or with `removeOnComplete: true`, which removes that one job and touches no other.
 */
export const FINISHED_JOB_RETENTION = {
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

/** BullMQ options shared by every job of a run or scoring: exponential backoff, finished jobs kept for status queries. */
export function jobOptions(policy: RetryPolicy) {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential' as const, delay: policy.backoffMs },
    ...FINISHED_JOB_RETENTION,
  };
}

/**
 * Retention of a job whose record is of no use once it has completed (an online request, whose waiter
 * takes the result from the completion event; a scheduled sweep): removed alone as it completes, kept
 * on failure as every job is (see FINISHED_JOB_RETENTION).
 */
export const TRANSIENT_JOB_RETENTION = {
  removeOnComplete: true,
  removeOnFail: FINISHED_JOB_RETENTION.removeOnFail,
} as const;
