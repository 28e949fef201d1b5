import IORedis, { Redis } from 'ioredis';

const reconnectDelay = (times: number) => Math.min(200 * times, 2000);

/**
 * A connection as BullMQ's workers need it: `maxRetriesPerRequest: null` so blocking commands wait out a
 * Redis restart instead of failing, and reconnection with a capped backoff.
 */
export function createRedis(url: string, name: string): Redis {
  return new IORedis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: reconnectDelay,
  });
}

/** No command of a request waits longer than this for Redis (a hung server, a lost network). */
export const REQUEST_COMMAND_TIMEOUT_MS = 3000;

/**
 * A connection for work done inside an HTTP request (the API): while Redis is unreachable a command fails
 * at once instead of waiting in ioredis' offline queue, and a command cut off by a disconnect is not sent
 * again on reconnection, so a request that was answered with an error never takes effect later.
 * Blocking readers (QueueEvents) need `blockingRedisOf` instead.
 */
export function createRequestRedis(url: string, name: string): Redis {
  return new IORedis(url, {
    connectionName: name,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    commandTimeout: REQUEST_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  });
}

/** A new connection to the same server with the options of `createRedis`, for blocking commands. */
export function blockingRedisOf(redis: Redis, name: string): Redis {
  return redis.duplicate({
    connectionName: name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: true,
    commandTimeout: undefined,
  });
}

/** Socket errors that mean the server cannot be reached (or stopped answering), not that a command was wrong. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether `error` says that Redis could not be reached (rather than that a command was wrong): the offline
 * queue refusing a command, a command cut off by a closed connection (`Connection is closed`, ioredis'
 * MaxRetriesPerRequestError, or the AbortError of a pipeline or transaction cut part-way), a command timed
 * out, or a socket error. The API answers these 503 with Retry-After.
 */
export function isRedisUnavailableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  if (UNREACHABLE_CODES.has((error as NodeJS.ErrnoException).code ?? '')) return true;
  return /enableOfflineQueue options is false|^Connection is closed|^Command timed out|Reached the max retries per request limit|^Command aborted due to connection close/.test(
    error.message,
  );
}

/** What the server says of eviction: a fleet needs `noeviction`, or queues lose keys silently. */
export interface EvictionPolicy {
  /** `maxmemory-policy`, or null when the server does not tell (a managed Redis may forbid CONFIG). */
  policy: string | null;
  ok: boolean;
  /** One line for logs and the health report. */
  detail: string;
}

export async function readEvictionPolicy(redis: Redis): Promise<EvictionPolicy> {
  let answer: unknown;
  try {
    answer = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
  } catch (error) {
    if (isRedisUnavailableError(error)) throw error;
    // A managed Redis (ElastiCache, Memorystore, ...) may refuse CONFIG: unknown is not a reason to stop.
    return { policy: null, ok: true, detail: `unknown (CONFIG GET maxmemory-policy refused: ${(error as Error).message}); make sure it is noeviction` };
  }
  const policy = Array.isArray(answer) && typeof answer[1] === 'string' ? answer[1] : null;
  if (policy === null) return { policy: null, ok: true, detail: 'unknown (CONFIG GET maxmemory-policy gave no value); make sure it is noeviction' };
  if (policy === 'noeviction') return { policy, ok: true, detail: 'noeviction' };
  return {
    policy,
    ok: false,
    detail: `maxmemory-policy is ${policy}: Redis may evict queue and run keys silently; set it to noeviction (CONFIG SET maxmemory-policy noeviction)`,
  };
}

/**
 * Start-up check of the API and the workers: a server that may evict keys stops the process (jobs,
 * runs and idempotency records would vanish without an error, as BullMQ only warns); an unknown policy
 * is logged and the process goes on.
 */
export async function checkEvictionPolicy(redis: Redis, log: (line: string) => void): Promise<EvictionPolicy> {
  const result = await readEvictionPolicy(redis);
  if (!result.ok) throw new Error(`redis: ${result.detail}`);
  if (result.policy === null) log(`redis: WARNING eviction policy ${result.detail}`);
  return result;
}
