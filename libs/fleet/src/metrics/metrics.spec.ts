import { describe, expect, it } from '@jest/globals';
import { ApiMetrics, QueueDepthSource } from './api-metrics';
import { exposedMetricNames } from './metrics-registry';
import { WorkerMetrics } from './worker-metrics';

/** The value of one sample of a Prometheus text exposition, or undefined when there is no such sample. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function queue(name: string, counts: Record<string, number> | Error): QueueDepthSource & { closed: boolean } {
  return {
    name,
    closed: false,
    getJobCounts: async (...types: string[]) => {
      if (counts instanceof Error) throw counts;
      return Object.fromEntries(types.map((t) => [t, counts[t] ?? 0]));
    },
    async close() {
      this.closed = true;
    },
  };
}

describe('ApiMetrics', () => {
  it('reads the queue depths when scraped, per queue and state', async () => {
    const counts = { waiting: 3, active: 1 };
    const metrics = new ApiMetrics([queue('extract', counts), queue('score', { 'waiting-children': 2 })]);
    let text = await metrics.registry.metrics();
    expect(sample(text, 'padim_queue_jobs{queue="extract",state="waiting"}')).toBe(3);
    expect(sample(text, 'padim_queue_jobs{queue="extract",state="active"}')).toBe(1);
    expect(sample(text, 'padim_queue_jobs{queue="extract",state="failed"}')).toBe(0);
    expect(sample(text, 'padim_queue_jobs{queue="score",state="waiting-children"}')).toBe(2);
    counts.waiting = 7;
    text = await metrics.registry.metrics();
    expect(sample(text, 'padim_queue_jobs{queue="extract",state="waiting"}')).toBe(7);
  });

  it('leaves out the depths of a queue it cannot read (Redis out) and still answers with the rest', async () => {
    const metrics = new ApiMetrics([queue('extract', new Error('Connection is closed.')), queue('reduce', { waiting: 4 })]);
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('queue="extract"');
    expect(sample(text, 'padim_queue_jobs{queue="reduce",state="waiting"}')).toBe(4);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts HTTP requests by method, route and status, with their durations', async () => {
    const metrics = new ApiMetrics([]);
    metrics.observeHttpRequest({ method: 'GET', route: '/v1/trainings/:id', status: '200', seconds: 0.02 });
    metrics.observeHttpRequest({ method: 'GET', route: '/v1/trainings/:id', status: '200', seconds: 0.3 });
    metrics.observeHttpRequest({ method: 'GET', route: '/v1/trainings/:id', status: '404', seconds: 0.001 });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'padim_http_requests_total{method="GET",route="/v1/trainings/:id",status="200"}')).toBe(2);
    expect(sample(text, 'padim_http_requests_total{method="GET",route="/v1/trainings/:id",status="404"}')).toBe(1);
    expect(sample(text, 'padim_http_request_duration_seconds_bucket{le="0.025",method="GET",route="/v1/trainings/:id",status="200"}')).toBe(1);
    expect(sample(text, 'padim_http_request_duration_seconds_count{method="GET",route="/v1/trainings/:id",status="200"}')).toBe(2);
    expect(sample(text, 'padim_http_request_duration_seconds_sum{method="GET",route="/v1/trainings/:id",status="200"}')).toBeCloseTo(0.32, 9);
  });

  it('closes the queues it reads', async () => {
    const queues = [queue('extract', {}), queue('score', {})];
    await new ApiMetrics(queues).close();
    expect(queues.map((q) => q.closed)).toEqual([true, true]);
  });
});

describe('WorkerMetrics', () => {
  it('has every run, scoring and image series at zero from the start', async () => {
    const text = await new WorkerMetrics().registry.metrics();
    for (const outcome of ['succeeded', 'failed', 'cancelled']) expect(sample(text, `padim_training_runs_total{outcome="${outcome}"}`)).toBe(0);
    for (const kind of ['online', 'batch']) {
      expect(sample(text, `padim_images_scored_total{kind="${kind}"}`)).toBe(0);
      for (const outcome of ['succeeded', 'failed']) expect(sample(text, `padim_scorings_total{kind="${kind}",outcome="${outcome}"}`)).toBe(0);
    }
    expect(sample(text, 'padim_images_extracted_total')).toBe(0);
    expect(sample(text, 'padim_model_cache_hits_total')).toBe(0);
    expect(sample(text, 'padim_model_cache_bytes')).toBe(0);
  });

  it('reports the model cache: hits and misses as they happen, the loaded bytes read at scrape time', async () => {
    const metrics = new WorkerMetrics();
    let bytes = 1000;
    metrics.watchModelCache(() => bytes);
    metrics.modelCacheLookup(false);
    metrics.modelCacheLookup(true);
    metrics.modelCacheLookup(true);
    let text = await metrics.registry.metrics();
    expect([sample(text, 'padim_model_cache_hits_total'), sample(text, 'padim_model_cache_misses_total')]).toEqual([2, 1]);
    expect(sample(text, 'padim_model_cache_bytes')).toBe(1000);
    bytes = 250;
    text = await metrics.registry.metrics();
    expect(sample(text, 'padim_model_cache_bytes')).toBe(250);
  });

  it('times jobs by queue, name and outcome', async () => {
    const metrics = new WorkerMetrics();
    metrics.jobSeconds.observe({ queue: 'extract', job: 'ExtractFeatures', outcome: 'completed' }, 42);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'padim_job_duration_seconds_bucket{le="30",queue="extract",job="ExtractFeatures",outcome="completed"}')).toBe(0);
    expect(sample(text, 'padim_job_duration_seconds_bucket{le="60",queue="extract",job="ExtractFeatures",outcome="completed"}')).toBe(1);
  });
});

describe('exposedMetricNames', () => {
  it('names the series a query uses: a histogram by its _bucket, _sum and _count, the default process metrics', () => {
    const names = exposedMetricNames(new WorkerMetrics().registry);
    expect(names).toEqual(
      expect.arrayContaining([
        'padim_job_duration_seconds_bucket',
        'padim_job_duration_seconds_sum',
        'padim_job_duration_seconds_count',
        'padim_images_extracted_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
        'nodejs_eventloop_lag_p99_seconds',
      ]),
    );
    expect(names).not.toContain('padim_job_duration_seconds');
  });
});
