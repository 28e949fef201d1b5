import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DeliverCallbackJob, JobName, QueueName, RetryPolicy, deliverCallback, deliverCallbackJob, jobOptions, parseContract } from '@padim-fleet/contracts';

/**
 * Queues completion events on the callbacks queue, one DeliverCallback job per event: its job id is the
 * event's delivery id, so queueing the same event again (a completing job retried, several shards
 * failing one run) adds nothing while the first is kept.
 */
export class CompletionCallbacks {
  readonly queue: Queue;

  constructor(
    redis: Redis,
    queuePrefix: string,
    private readonly retry: RetryPolicy,
  ) {
    this.queue = new Queue(QueueName.Callbacks, { connection: redis, prefix: queuePrefix });
  }

  async send(data: DeliverCallbackJob): Promise<void> {
    const parsed = parseContract(deliverCallbackJob, data, `callback ${data.event.deliveryId}`);
    await this.queue.add(JobName.DeliverCallback, parsed, { ...jobOptions(this.retry), jobId: deliverCallback.jobId(parsed) });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
