import { Job, UnrecoverableError } from 'bullmq';
import { CALLBACK_HEADERS, CompletionEvent, FleetConfig, callbackUrlProblem, deliverCallbackJob, signCallbackBody } from '@padim-fleet/contracts';
import { parseJobData } from './job-context';

export interface CallbackDelivery {
  status: number;
  attempt: number;
}

/**
 * POSTs a completion event to its callbackUrl, signed with PADIM_CALLBACK_SECRET. A 2xx answer delivers
 * it; a 3xx (redirects are not followed: they could lead to a host that is not allowed) or a 4xx other
 * than 408 and 429 gives up at once, since sending the same request again will not change the answer;
 * anything else (5xx, 408, 429, no answer within PADIM_CALLBACK_TIMEOUT_MS, a refused connection) is
 * retried with backoff. The host is checked again here: the settings of this worker decide.
 */
export async function deliverCallbackHandler(job: Job, ctx: { config: FleetConfig }): Promise<CallbackDelivery> {
  const { url, event } = parseJobData(deliverCallbackJob, job);
  const problem = callbackUrlProblem(url, ctx.config);
  if (problem) throw new UnrecoverableError(`callback ${event.deliveryId} to ${url}: ${problem}`);
  const secret = ctx.config.PADIM_CALLBACK_SECRET;
  if (secret === undefined) throw new UnrecoverableError(`callback ${event.deliveryId}: PADIM_CALLBACK_SECRET is not set on this worker`);
  const sentAt = new Date().toISOString();
  const body = JSON.stringify({ ...event, sentAt } satisfies CompletionEvent);
  let status: number;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'padim-fleet-callbacks',
        [CALLBACK_HEADERS.event]: event.event,
        [CALLBACK_HEADERS.delivery]: event.deliveryId,
        [CALLBACK_HEADERS.timestamp]: sentAt,
        [CALLBACK_HEADERS.signature]: signCallbackBody(body, secret),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(ctx.config.PADIM_CALLBACK_TIMEOUT_MS),
    });
    status = response.status;
    // The answer's body is not needed: drop it so that the connection is freed.
    await response.body?.cancel().catch(() => undefined);
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    throw new Error(`callback ${event.deliveryId} to ${url}: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`);
  }
  if (status >= 200 && status < 300) return { status, attempt: job.attemptsMade + 1 };
  const why = `callback ${event.deliveryId} to ${url}: answered ${status}`;
  if (status >= 300 && status < 500 && status !== 408 && status !== 429) throw new UnrecoverableError(`${why}; not retried`);
  throw new Error(why);
}
