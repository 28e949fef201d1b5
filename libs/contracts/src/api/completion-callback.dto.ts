import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type FleetConfig, callbackHostName } from '../config/fleet-config';
import { categoryName, runId, versionName } from '../names';

export const CALLBACK_URL_MAX_LENGTH = 2048;

/** Why `url` cannot be a callback URL whatever the settings (not http(s), credentials, too long), or null. */
export function callbackUrlFormProblem(url: string): string | null {
  if (url.length > CALLBACK_URL_MAX_LENGTH) return `must be at most ${CALLBACK_URL_MAX_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (parsed.username !== '' || parsed.password !== '') return 'must not hold credentials (user:password@); the callbacks are signed instead';
  return null;
}

/**
 * `callbackUrl` of a training or batch scoring request: where the fleet POSTs the completion event.
 * Its host must also be in PADIM_CALLBACK_HOSTS (callbackUrlProblem), which the API checks.
 */
export const callbackUrl = z.string().superRefine((url, ctx) => {
  const problem = callbackUrlFormProblem(url);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The port a URL reaches: its own, or its scheme's default. */
function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/**
 * Why the fleet may not send a callback to `url`, or null: it must be well formed (callbackUrlFormProblem)
 * and its host listed in PADIM_CALLBACK_HOSTS, with its port when the entry names one, on the scheme's
 * default port otherwise. No hosts listed: callbacks are refused.
 */
export function callbackUrlProblem(url: string, config: Pick<FleetConfig, 'PADIM_CALLBACK_HOSTS'>): string | null {
  const malformed = callbackUrlFormProblem(url);
  if (malformed) return malformed;
  if (config.PADIM_CALLBACK_HOSTS.length === 0) return 'callbacks are disabled: set PADIM_CALLBACK_HOSTS to the hosts callbacks may be sent to';
  const parsed = new URL(url);
  const host = callbackHostName(url)!;
  const port = effectivePort(parsed);
  const allowed = config.PADIM_CALLBACK_HOSTS.some((entry) => entry.host === host && (entry.port === null ? parsed.port === '' : entry.port === port));
  return allowed ? null : `host ${host}:${port} is not in PADIM_CALLBACK_HOSTS`;
}

export const CALLBACK_EVENTS = ['training.succeeded', 'training.failed', 'scoring.succeeded', 'scoring.failed'] as const;
export type CallbackEventName = (typeof CALLBACK_EVENTS)[number];

/**
 * The JSON body of a completion callback: one per training run or batch scoring, when it ends. The
 * signature (X-Padim-Signature) covers these exact bytes, `sentAt` (= X-Padim-Timestamp) included.
 */
export const completionEvent = z
  .object({
    event: z.enum(CALLBACK_EVENTS),
    /** Same as X-Padim-Delivery: one per run or scoring, the same on every retry; receivers deduplicate on it. */
    deliveryId: z.string().min(1).max(128),
    /** The training run's or the batch scoring's id. */
    id: runId,
    category: categoryName,
    /** Training: the version the run made (or was to make). Scoring: the model version it scored with, once resolved. */
    version: versionName.optional(),
    /** 'cancelled' only for training.failed: the run was cancelled (DELETE /v1/trainings/:id). */
    state: z.enum(['completed', 'failed', 'cancelled']),
    error: z.string().optional(),
    /** training.succeeded: images fitted, whether the version became current, and the validation metrics when a validation set was given. */
    imageCount: z.number().int().min(0).optional(),
    current: z.boolean().optional(),
    metrics: z.record(z.string(), z.number().nullable()).optional(),
    /** scoring.succeeded: what summary.json counts. */
    summary: z.object({ images: z.number(), scored: z.number(), failed: z.number(), anomalous: z.number() }).strict().optional(),
    /** The API route with the full status: `/v1/trainings/<id>` or `/v1/scorings/<id>`. */
    status: z.string(),
    /** When the run or scoring ended (ISO 8601). */
    finishedAt: z.string(),
    /** When this attempt was sent (ISO 8601), = X-Padim-Timestamp: a receiver refuses old ones as replays. */
    sentAt: z.string(),
  })
  .strict();
export type CompletionEvent = z.infer<typeof completionEvent>;

/** The event as it is queued: `sentAt` is set by each delivery attempt. */
export const queuedCompletionEvent = completionEvent.omit({ sentAt: true });
export type QueuedCompletionEvent = z.infer<typeof queuedCompletionEvent>;

/** The delivery id of a run's or scoring's completion event: one per run, whatever ends it and however often. */
export function callbackDeliveryId(kind: 'training' | 'scoring', id: string): string {
  return `${kind}-${id}`;
}

export const CALLBACK_HEADERS = {
  event: 'x-padim-event',
  delivery: 'x-padim-delivery',
  timestamp: 'x-padim-timestamp',
  signature: 'x-padim-signature',
} as const;

/** `sha256=<hex HMAC-SHA256 of the raw body>`: the X-Padim-Signature of a callback body. */
export function signCallbackBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `signature` (the X-Padim-Signature header) is the signature of `body` (the raw bytes received,
 * before any JSON parsing) with `secret` (PADIM_CALLBACK_SECRET). Compared in constant time.
 */
export function verifyCallbackSignature(body: string | Buffer, signature: string | string[] | undefined | null, secret: string): boolean {
  if (typeof signature !== 'string') return false;
  const expected = Buffer.from(signCallbackBody(body, secret));
  const given = Buffer.from(signature.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
