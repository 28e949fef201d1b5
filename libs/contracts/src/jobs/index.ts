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

/** BullMQ options shared by every job: exponential backoff, finished jobs kept for status queries. */
export function jobOptions(policy: RetryPolicy) {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential' as const, delay: policy.backoffMs },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}
