import { z } from 'zod';
import { callbackUrl } from '../api/completion-callback.dto';
import { categoryName, runId, versionName } from '../names';
import { JobName, QueueName } from './queue-name';

/** The parent of a training flow: merges the shards' partial accumulators and publishes the model. */
export const fitGaussianJob = z
  .object({
    runId,
    shardCount: z.number().int().min(1),
    category: categoryName,
    version: versionName,
    createdAt: z.string(),
    heldOutCount: z.number().int().min(0),
    /** Move `current` to the new version once it is published. */
    promote: z.boolean(),
    /** The request's callbackUrl: the run's completion event goes there, also when a shard fails the run. */
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
export type FitGaussianJob = z.infer<typeof fitGaussianJob>;

export const fitGaussian = {
  name: JobName.FitGaussian,
  queue: QueueName.Reduce,
  schema: fitGaussianJob,
  jobId: (data: Pick<FitGaussianJob, 'runId'>) => data.runId,
} as const;
