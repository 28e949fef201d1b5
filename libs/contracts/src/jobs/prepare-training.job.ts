import { z } from 'zod';
import { trainingUploadRequest } from '../api/training-request.dto';
import { runId } from '../names';
import { JobName, QueueName } from './queue-name';

/**
 * A training run on an uploaded archive starts here: the API has stored the archive under the run's
 * prefix; this job inspects and unpacks it next to it, then plans the run and queues its flow.
 */
export const prepareTrainingJob = z
  .object({
    runId,
    createdAt: z.string(),
    request: trainingUploadRequest,
    /** The stored archive and the name it was uploaded under (for its format and the errors). */
    archive: z.object({ key: z.string().min(1), name: z.string().min(1).max(512) }).strict(),
  })
  .strict();
export type PrepareTrainingJob = z.infer<typeof prepareTrainingJob>;

export const prepareTraining = {
  name: JobName.PrepareTraining,
  queue: QueueName.Reduce,
  schema: prepareTrainingJob,
  /** The run's FitGaussian job, on the same queue, has the run id itself. */
  jobId: (data: Pick<PrepareTrainingJob, 'runId'>) => `${data.runId}-prepare`,
} as const;
