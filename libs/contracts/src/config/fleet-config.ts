import { z } from 'zod';
import { s3BucketName } from '../input-locations';
import { parseContract } from '../validation';

export const WORKER_ROLES = ['extract', 'reduce', 'score'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

/** pino's levels, least severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type FleetLogLevel = (typeof LOG_LEVELS)[number];

const csv = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    )
    .pipe(z.array(item));

export const API_KEY_RULE = 'each API key must be at least 32 characters, with at least 8 distinct characters, and not a short pattern repeated';

/** Whether `key` repeats its first `period` characters to the end (`abcabcab` with period 3). */
function repeatsWithPeriod(key: string, period: number): boolean {
  for (let i = period; i < key.length; i++) if (key[i] !== key[i - period]) return false;
  return true;
}

/** Guessable keys are refused: too short, too few distinct characters, or a pattern of at most half its length repeated. */
const apiKey = z.string().refine(
  (key) => {
    if (key.length < 32 || new Set(key).size < 8) return false;
    for (let period = 1; period <= key.length / 2; period++) if (repeatsWithPeriod(key, period)) return false;
    return true;
  },
  { message: API_KEY_RULE },
);

/** One entry of PADIM_CALLBACK_HOSTS: a host a completion callback may be sent to, and its port if only that one. */
export interface CallbackHost {
  /** Lower case, as a URL's hostname spells it (an IPv6 address in brackets). */
  host: string;
  /** null: the scheme's default port only (80 for http, 443 for https). */
  port: number | null;
}

export const CALLBACK_HOST_RULE = 'must be host or host:port (a name, an IPv4 address or a bracketed IPv6 address; no scheme, path or credentials)';

/** `hooks.example.com`, `hooks.example.com:8443`, `10.0.0.7:9000`, `[::1]:8080` → its host and port. */
export const callbackHost = z.string().transform((entry, ctx): CallbackHost => {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?)(?::(\d{1,5}))?$/i.exec(entry);
  const port = match?.[3] === undefined ? null : Number(match[3]);
  const host = match ? callbackHostName(`http://${match[1]}/`) : null;
  if (host === null || (port !== null && (port < 1 || port > 65535))) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} ${CALLBACK_HOST_RULE}` });
    return z.NEVER;
  }
  return { host, port };
});

/**
 * A URL's host as callbacks compare it: as WHATWG URL parsing writes it (lower case, IPv4 in dotted
 * decimal, IPv6 compressed in brackets), without a final dot; null when `url` does not parse.
 */
export function callbackHostName(url: string): string | null {
  try {
    return new URL(url).hostname.replace(/\.$/, '');
  } catch {
    return null;
  }
}

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const positiveInt = z.coerce.number().int().min(1);

/**
 * Everything a process of the fleet reads from its environment, validated once. The names are the
 * environment variables; the defaults run the embedded setup (local folder store, local Redis).
 */
export const fleetEnvironment = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix: fleets (or test runs) sharing one Redis keep apart by prefix. */
  PADIM_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1-64 letters, digits, ":", "_" or "-"')
    .default('padim'),
  /** `s3://bucket/optional/prefix`, or a local folder (the embedded default). */
  PADIM_STORE: z.string().min(1).default('.padim-store'),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
  /**
   * Buckets an `s3://` dataset or scoring input may name; they are read with the server's credential,
   * so none by default (`s3://` inputs refused). In the store's own bucket, its reserved prefixes stay out of bounds.
   */
  PADIM_S3_INPUT_BUCKETS: csv(s3BucketName).default([]),
  /** Server-side folders a training request may name as its dataset; nothing outside them is read. */
  PADIM_DATASET_ROOTS: csv(z.string().min(1)).default([]),
  /** Folder for converted backbones (ResNet-50); default: the repository's .cache. */
  PADIM_CACHE_DIR: z.string().min(1).optional(),
  PADIM_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  /**
   * How an extract job sums co-moments: 'in-graph' (in the backbone's graph, on its device), or on the
   * host, 'gram' or 'float64'. Default: 'in-graph' when PADIM_DEVICE is cuda, else 'gram' where its group
   * holds 128 images or more (d=100 at 256×256) and 'float64' otherwise (hostComomentPath).
   */
  PADIM_ACCUMULATE: z.enum(['in-graph', 'gram', 'float64']).optional(),
  /** Images per backbone run with in-graph accumulation (they bound its memory); default 64. */
  PADIM_ACCUMULATE_GROUP: positiveInt.optional(),
  /** onnxruntime intra-op threads of a process's backbone, shared among its sessions; default: all cores. */
  PADIM_THREADS: positiveInt.optional(),
  /** Backbone sessions that run batches side by side; default: 2 on the CPU with 2 or more threads, else 1. */
  PADIM_BACKBONE_SESSIONS: positiveInt.optional(),
  WORKER_ROLES: csv(z.enum(WORKER_ROLES)).default(['extract', 'reduce']),
  /** Backbones an extract/reduce worker builds when it starts, so that its first job does not wait for them. */
  PADIM_PRELOAD_BACKBONES: csv(z.enum(['resnet18', 'resnet50'])).default([]),
  EXTRACT_CONCURRENCY: positiveInt.default(1),
  REDUCE_CONCURRENCY: positiveInt.default(1),
  SCORE_CONCURRENCY: positiveInt.default(4),
  /** Attempts per job before its run fails (exponential backoff between them). */
  JOB_ATTEMPTS: positiveInt.default(4),
  JOB_BACKOFF_MS: positiveInt.default(5000),
  /** Partial data the reducer holds at once; it merges as many patch positions per block as fit. */
  REDUCE_MEMORY_MB: positiveInt.default(512),
  /**
   * Memory one training job may take on this worker; an extract or reduce job whose model needs more
   * (accumulator or factors, merge blocks, backbone) fails at once without retries. Unset: no check.
   */
  WORKER_MEMORY_MB: positiveInt.optional(),
  /** A job whose worker stops renewing its lock for this long is taken back and retried (stalled-job recovery). */
  LOCK_DURATION_MS: positiveInt.default(30000),
  STALLED_INTERVAL_MS: positiveInt.default(30000),
  /** A job taken back this many times (its worker died or starved each time) fails for good on the next: a job that kills its worker does not loop. */
  MAX_STALLED_COUNT: z.coerce.number().int().min(0).max(100).default(2),
  /** Scratch space for the reducer's merged blocks (about one model's size). */
  PADIM_SCRATCH_DIR: z.string().min(1).optional(),
  /**
   * Port of the worker's own HTTP server: `GET /metrics` (Prometheus) and `GET /healthz`. Unset: no
   * server; 0: a free port, printed at start.
   */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Address that server binds: the loopback by default; `0.0.0.0` (or the host's address) for a Prometheus elsewhere. */
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Memory for cached scoring models per score worker (least recently used out). */
  SCORE_CACHE_MB: positiveInt.default(2048),
  /** Limits on archives submitted for scoring or training, checked before anything is unpacked. */
  ARCHIVE_MAX_ENTRIES: positiveInt.default(100_000),
  ARCHIVE_MAX_BYTES: positiveInt.default(20 * 1024 ** 3),
  /** Uncompressed/compressed size of a zip entry over 1 MiB, or of each 8 MiB stretch of a tar.gz: above it, a bomb. */
  ARCHIVE_MAX_COMPRESSION_RATIO: positiveInt.default(200),
  /** Online results (heatmap and mask PNGs under scores/<request>/) are removed after this many hours. */
  ONLINE_RESULTS_TTL_HOURS: positiveInt.default(24),
  /** Unfinished writes (incomplete multipart uploads, temporary files) older than this are aborted by the reduce workers. */
  STALE_WRITE_HOURS: positiveInt.default(6),
  /** How long an online scoring request waits for the score pool. */
  SCORE_TIMEOUT_MS: positiveInt.default(60_000),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().default('127.0.0.1'),
  /** Bearer tokens accepted by the API (comma separated). Required by the API; see API_KEY_RULE. */
  API_KEYS: csv(apiKey).default([]),
  /** Largest archive the API accepts on an upload route, in bytes: a 413 at the first byte over, nothing stored. */
  API_MAX_UPLOAD_BYTES: positiveInt.default(2 * 1024 ** 3),
  /** Largest online scoring request (all its images together), in bytes; it is held in memory while it is scored. */
  ONLINE_MAX_REQUEST_BYTES: positiveInt.default(64 * 1024 ** 2),
  /** Online scoring requests one API process serves at once; more are answered 429. */
  ONLINE_MAX_CONCURRENT: positiveInt.default(8),
  /** On SIGTERM the API finishes its requests and closes its connections within this time, then exits regardless. */
  API_SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  /** A POST repeated with the same Idempotency-Key within this time gets the first answer back. */
  IDEMPOTENCY_TTL_HOURS: positiveInt.default(24),
  /** Most images a training dataset may hold (a larger one is a 400 naming it). */
  DATASET_MAX_IMAGES: positiveInt.default(100_000),
  /** Lowest level the API and the workers log (JSON lines, or human lines on a TTY). */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Most files a scoring input prefix may hold (a larger one fails the scoring, naming it). */
  SCORING_MAX_INPUTS: positiveInt.default(100_000),
  /** Largest image object read from a store (training or scoring); a larger one is an error for that image. */
  IMAGE_MAX_BYTES: positiveInt.default(64 * 1024 ** 2),
  /**
   * Hosts a completion callback (a request's callbackUrl) may be sent to, as host or host:port; none by
   * default (callbackUrl refused), so that the fleet cannot be made to POST into the network it runs in.
   */
  PADIM_CALLBACK_HOSTS: csv(callbackHost).default([]),
  /** Key of the callbacks' HMAC-SHA256 signature (X-Padim-Signature); required when PADIM_CALLBACK_HOSTS lists any host. */
  PADIM_CALLBACK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Attempts per callback before it is given up (exponential backoff from PADIM_CALLBACK_BACKOFF_MS between them). */
  PADIM_CALLBACK_ATTEMPTS: positiveInt.default(8),
  PADIM_CALLBACK_BACKOFF_MS: positiveInt.default(10_000),
  /** How long one callback request may take, answer included. */
  PADIM_CALLBACK_TIMEOUT_MS: positiveInt.default(10_000),
});

/** Settings that depend on one another, checked once each has parsed. */
function checkSettingsTogether(config: z.infer<typeof fleetEnvironment>, ctx: z.RefinementCtx): void {
  if (config.PADIM_CALLBACK_HOSTS.length > 0 && config.PADIM_CALLBACK_SECRET === undefined)
    ctx.addIssue({ code: 'custom', path: ['PADIM_CALLBACK_SECRET'], message: 'required when PADIM_CALLBACK_HOSTS lists hosts (it signs the callbacks)' });
}

export type FleetConfig = z.infer<typeof fleetEnvironment>;

/** Reads the configuration from `env` (process.env by default); a bad value fails naming the variable. */
export function loadFleetConfig(env: Record<string, string | undefined> = process.env): FleetConfig {
  const known = Object.fromEntries(
    Object.keys(fleetEnvironment.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  return parseContract(fleetEnvironment.superRefine(checkSettingsTogether), known, 'configuration');
}

export interface S3Connection {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export function s3Connection(config: FleetConfig): S3Connection {
  return {
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    accessKeyId: config.S3_ACCESS_KEY_ID,
    secretAccessKey: config.S3_SECRET_ACCESS_KEY,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
  };
}
