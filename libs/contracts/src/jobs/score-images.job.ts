import { z } from 'zod';
import { categoryName, runId, versionName } from '../names';
import { JobName, QueueName } from './queue-name';

/** Online scoring: images already uploaded to the store under `uploads/<requestId>/`. */
export const scoreImagesJob = z
  .object({
    requestId: runId,
    category: categoryName,
    /** null: the category's current version when the job runs. */
    version: versionName.nullable(),
    images: z.array(z.object({ key: z.string().min(1), name: z.string().min(1).max(512) }).strict()).min(1).max(64),
    /** Return the PNGs base64-encoded in the result instead of storing them. */
    inline: z.boolean(),
  })
  .strict();
export type ScoreImagesJob = z.infer<typeof scoreImagesJob>;

export const scoreImages = {
  name: JobName.ScoreImages,
  queue: QueueName.Score,
  schema: scoreImagesJob,
  jobId: (data: ScoreImagesJob) => data.requestId,
} as const;
