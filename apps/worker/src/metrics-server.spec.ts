import { afterEach, describe, expect, it } from '@jest/globals';
import { WorkerMetrics } from '@padim-fleet/fleet';
import { MetricsServer, startMetricsServer } from './metrics-server';

describe('startMetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(() => server?.close());

  it('serves the metrics in Prometheus text format and the health on a port of its own', async () => {
    const metrics = new WorkerMetrics();
    metrics.imagesExtracted.inc(12);
    let problem: string | null = null;
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics, problem: () => problem });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const scrape = await fetch(`${server.url}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await scrape.text();
    expect(text).toContain('\npadim_images_extracted_total 12\n');
    expect(text).toMatch(/\nprocess_resident_memory_bytes \d+/);

    const healthy = await fetch(`${server.url}/healthz`);
    expect([healthy.status, await healthy.text()]).toEqual([200, 'ok\n']);
    problem = 'redis connection reconnecting';
    const unhealthy = await fetch(`${server.url}/healthz`);
    expect([unhealthy.status, await unhealthy.text()]).toEqual([503, 'not ok: redis connection reconnecting\n']);
  });

  it('answers 404 to any other path and 405 to any other method', async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics: new WorkerMetrics(), problem: () => null });
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics/extra`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('fails to start on a port already taken, naming it', async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics: new WorkerMetrics(), problem: () => null });
    const port = Number(new URL(server.url).port);
    await expect(startMetricsServer({ host: '127.0.0.1', port, metrics: new WorkerMetrics(), problem: () => null })).rejects.toThrow(
      new RegExp(`EADDRINUSE.*${port}`),
    );
  });
});
