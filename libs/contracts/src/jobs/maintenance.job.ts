import { z } from 'zod';
import { JobName, QueueName } from './queue-name';

/**
 * Scheduled on the reduce queue: aborts writes to the store that never finished (a worker killed in
 * the middle of uploading a partial leaves an incomplete multipart upload whose parts S3 keeps, and
 * bills, until aborted) once they are older than STALE_WRITE_HOURS.
 */
export const abortStaleWritesJob = z.object({}).strict();
export type AbortStaleWritesJob = z.infer<typeof abortStaleWritesJob>;

export const abortStaleWrites = {
  name: JobName.AbortStaleWrites,
  queue: QueueName.Reduce,
  schema: abortStaleWritesJob,
  /** One scheduler for the whole fleet: every reduce worker upserts the same one. */
  jobId: () => 'abort-stale-writes',
} as const;
