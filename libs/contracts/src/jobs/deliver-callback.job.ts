import { z } from 'zod';
import { callbackUrl, queuedCompletionEvent } from '../api/completion-callback.dto';
import { JobName, QueueName } from './queue-name';

/** A completion event to POST to a request's callbackUrl, on the callbacks queue that every worker with PADIM_CALLBACK_HOSTS serves. */
export const deliverCallbackJob = z
  .object({
    url: callbackUrl,
    event: queuedCompletionEvent,
  })
  .strict();
export type DeliverCallbackJob = z.infer<typeof deliverCallbackJob>;

export const deliverCallback = {
  name: JobName.DeliverCallback,
  queue: QueueName.Callbacks,
  schema: deliverCallbackJob,
  /** The event's delivery id: a completing job that is retried, or several shards failing one run, queue one delivery. */
  jobId: (data: Pick<DeliverCallbackJob, 'event'>) => data.event.deliveryId,
} as const;
