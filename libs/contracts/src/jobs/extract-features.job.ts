import { z } from 'zod';
import { runId } from '../names';
import { JobName, QueueName } from './queue-name';

/** One shard of a training run: the worker reads its image list from the run's plan in the store. */
export const extractFeaturesJob = z
  .object({
    runId,
    shard: z.number().int().min(0),
    shardCount: z.number().int().min(1),
    /** Images in this shard (for progress; the list itself is in the plan). */
    imageCount: z.number().int().min(0),
  })
  .strict();
export type ExtractFeaturesJob = z.infer<typeof extractFeaturesJob>;

export const extractFeatures = {
  name: JobName.ExtractFeatures,
  queue: QueueName.Extract,
  schema: extractFeaturesJob,
  /** Fixed per (run, shard): a resubmission cannot duplicate the shard. */
  jobId: (data: Pick<ExtractFeaturesJob, 'runId' | 'shard'>) => `${data.runId}-shard-${data.shard}`,
} as const;
