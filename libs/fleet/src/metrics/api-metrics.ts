import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { processRegistry } from './metrics-registry';

/** The job states whose counts `padim_queue_jobs` reports for each queue. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused', 'failed', 'completed'] as const;

/** What the queue-depth gauge reads at scrape time: a BullMQ Queue. */
export interface QueueDepthSource {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Seconds: from a quick JSON answer to a large upload streamed into the store. */
const HTTP_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds: a warm model answers in tenths of a second, a cold load takes seconds, SCORE_TIMEOUT_MS defaults to 60 s. */
const ONLINE_SCORING_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];

/**
 * The API's metrics: queue depths (read from Redis when Prometheus scrapes), HTTP requests by route
 * pattern and status, online scoring latency, and the process metrics.
 */
export class ApiMetrics {
  readonly registry: Registry;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  readonly onlineScoringSeconds: Histogram<'status'>;

  constructor(private readonly queues: QueueDepthSource[]) {
    this.registry = processRegistry();
    const registers = [this.registry];
    this.queueJobs = new Gauge({
      name: 'padim_queue_jobs',
      help: 'Jobs in each BullMQ queue of the fleet by state, read from Redis at scrape time',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        // Redis unreachable: no samples (the scrape still answers with the other metrics) rather than stale ones.
        this.reset();
        const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_JOB_STATES).catch(() => null)));
        for (const [i, count] of counts.entries()) {
          if (count === null) continue;
          for (const state of QUEUE_JOB_STATES) this.set({ queue: queues[i].name, state }, count[state] ?? 0);
        }
      },
    });
    this.httpRequests = new Counter({
      name: 'padim_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern (never the raw URL) and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpRequestSeconds = new Histogram({
      name: 'padim_http_request_duration_seconds',
      help: 'Time from a request to the end of its answer, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_SECONDS_BUCKETS,
      registers,
    });
    this.onlineScoringSeconds = new Histogram({
      name: 'padim_online_scoring_seconds',
      help: 'Time to answer an online scoring request (POST /v1/models/:category/score), upload to answer, by status code',
      labelNames: ['status'],
      buckets: ONLINE_SCORING_SECONDS_BUCKETS,
      registers,
    });
  }

  /** One answered request; `route` is the pattern the router matched (`/v1/trainings/:id`), or a fixed name. */
  observeHttpRequest(request: { method: string; route: string; status: string; seconds: number }): void {
    const labels = { method: request.method, route: request.route, status: request.status };
    this.httpRequests.inc(labels);
    this.httpRequestSeconds.observe(labels, request.seconds);
  }

  /** Closes the queues the depths are read from. */
  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }
}
