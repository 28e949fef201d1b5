import { z } from 'zod';
import { categoryName, runId, versionName } from '../names';
import { JobName, QueueName } from './queue-name';

/** Longest file name an online image may have (NAME_MAX): it comes back as its result's `file`. */
export const MAX_IMAGE_NAME_LENGTH = 255;

/** The file name a client gave an uploaded image, shown back as its result's `file`. */
export const onlineImageName = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_IMAGE_NAME_LENGTH, `must be at most ${MAX_IMAGE_NAME_LENGTH} characters`)
  .regex(/^\P{Cc}*$/u, 'must not contain control characters');

/** Online scoring: images already uploaded to the store under `uploads/<requestId>/`. */
export const scoreImagesJob = z
  .object({
    requestId: runId,
    category: categoryName,
    /** null: the category's current version when the job runs. */
    version: versionName.nullable(),
    images: z
      .array(z.object({ key: z.string().min(1), name: onlineImageName }).strict())
      .min(1)
      .max(64),
    /** Return the PNGs base64-encoded in the result instead of storing them. */
    inline: z.boolean(),
  })
  .strict();
export type ScoreImagesJob = z.infer<typeof scoreImagesJob>;

export const scoreImages = {
  name: JobName.ScoreImages,
  queue: QueueName.Score,
  schema: scoreImagesJob,
  jobId: (data: Pick<ScoreImagesJob, 'requestId'>) => data.requestId,
} as const;
